//! [`CausalLm`] as a burn module whose record is its adapters only: a checkpoint holds every
//! adapter's `A`, heads, router and initial offset (`A⁰`, `B̄⁰`), with their parameter ids (the
//! optimizer state refers to them), never the frozen base, which a resumed run reads again from
//! its model folder. Every other module operation (devices, forks, visits, maps) is the model's.

use std::collections::BTreeMap;
use std::convert::Infallible;

use burn::module::{
    AutodiffModule, Devices, HasAutodiffModule, Module, ModuleMapper, ModuleVisitor, Param,
};
use burn::record::Record;
use burn::tensor::Tensor;
use rlora::{InitOffset, RLoraLinear};
use rlora_llama::Llama;

use super::model::CausalLm;
use rlora_llama::{LlamaAutodiffBackend, LlamaBackend};

/// The record of a [`CausalLm`]: its adapters, by path, in layer order.
#[derive(Record)]
pub struct AdapterCheckpoint<B: LlamaBackend> {
    /// One entry per adapted projection.
    pub adapters: Vec<AdapterState<B>>,
}

/// One adapter's trained and initial tensors (burn's `[in, out]` layout).
#[derive(Record)]
pub struct AdapterState<B: LlamaBackend> {
    /// The projection's path (`model.layers.3.mlp.up_proj`).
    pub path: String,
    /// `A`: `[d_in, r]`.
    pub lora_a: Matrix<B>,
    /// The heads `[B_1; …; B_N]`: `[N·r, d_out]`.
    pub lora_b: Matrix<B>,
    /// The router `R`: `[d_in, N]`, for more than one head.
    pub router: Option<Matrix<B>>,
    /// The initial offset `(A⁰, B̄⁰)` that keeps the model at its base at the start.
    pub offset: Option<(Matrix<B>, Matrix<B>)>,
}

/// A 2-D parameter.
type Matrix<B> = Param<Tensor<B, 2>>;

impl<B: LlamaBackend> AdapterState<B> {
    fn of(path: String, layer: &RLoraLinear<B>) -> Self {
        Self {
            path,
            lora_a: layer.lora_a.clone().into_record(),
            lora_b: layer.lora_b.clone().into_record(),
            router: layer.router.clone().map(Module::into_record),
            offset: layer
                .offset
                .clone()
                .map(|o| (o.a.into_record(), o.b.into_record())),
        }
    }

    /// `layer` with this state's tensors and parameter ids.
    fn apply(self, mut layer: RLoraLinear<B>) -> RLoraLinear<B> {
        layer.lora_a = layer.lora_a.load_record(self.lora_a);
        layer.lora_b = layer.lora_b.load_record(self.lora_b);
        if let (Some(router), Some(record)) = (layer.router.take(), self.router) {
            layer.router = Some(router.load_record(record));
        }
        if let (Some(offset), Some((a, b))) = (layer.offset.take(), self.offset) {
            layer.offset = Some(InitOffset {
                a: offset.a.load_record(a),
                b: offset.b.load_record(b),
            });
        }
        layer
    }

    /// Why this state cannot be loaded onto `layer`, if it cannot.
    fn mismatch(&self, layer: &RLoraLinear<B>) -> Option<String> {
        let pairs = [
            ("A", Some(self.lora_a.shape()), Some(layer.lora_a.shape())),
            (
                "heads",
                Some(self.lora_b.shape()),
                Some(layer.lora_b.shape()),
            ),
            (
                "router",
                self.router.as_ref().map(|r| r.shape()),
                layer.router.as_ref().map(|r| r.shape()),
            ),
            (
                "offset A⁰",
                self.offset.as_ref().map(|(a, _)| a.shape()),
                layer.offset.as_ref().map(|o| o.a.shape()),
            ),
        ];
        pairs.into_iter().find_map(|(name, saved, model)| {
            (saved != model).then(|| {
                format!(
                    "{}: {name} is {saved:?} in the checkpoint, {model:?} in the model",
                    self.path
                )
            })
        })
    }
}

impl<B: LlamaBackend> AdapterCheckpoint<B> {
    /// Why this checkpoint does not fit `model`'s adapters (another path or shape), if it
    /// does not.
    pub fn mismatch(&self, model: &Llama<B>) -> Option<String> {
        let adapters = model.adapters();
        if adapters.len() != self.adapters.len() {
            return Some(format!(
                "it holds {} adapters, the model has {}",
                self.adapters.len(),
                adapters.len()
            ));
        }
        adapters
            .iter()
            .zip(&self.adapters)
            .find_map(|((path, layer), state)| {
                if *path != state.path {
                    return Some(format!("adapter {} where the model has {path}", state.path));
                }
                state.mismatch(layer)
            })
    }
}

impl<B: LlamaBackend> Module<B> for CausalLm<B> {
    type Record = AdapterCheckpoint<B>;

    fn collect_devices(&self, devices: Devices<B>) -> Devices<B> {
        self.llama.collect_devices(devices)
    }

    fn fork(self, device: &B::Device) -> Self {
        Self {
            llama: self.llama.fork(device),
            ..self
        }
    }

    fn to_device(self, device: &B::Device) -> Self {
        Self {
            llama: self.llama.to_device(device),
            ..self
        }
    }

    fn visit<V: ModuleVisitor<B>>(&self, visitor: &mut V) {
        self.llama.visit(visitor);
    }

    fn map<M: ModuleMapper<B>>(self, mapper: &mut M) -> Self {
        Self {
            llama: self.llama.map(mapper),
            ..self
        }
    }

    /// The adapters of the checkpoint, onto this model's (a checkpoint that does not fit is
    /// refused before the Learner loads it, by `AdapterCheckpoint::mismatch`).
    fn load_record(self, record: AdapterCheckpoint<B>) -> Self {
        let mut states: BTreeMap<String, AdapterState<B>> = record
            .adapters
            .into_iter()
            .map(|state| (state.path.clone(), state))
            .collect();
        let llama = self
            .llama
            .map_projections(|path, _, projection| {
                Ok::<_, Infallible>(match states.remove(path) {
                    Some(state) => projection.map_adapter(|layer| state.apply(layer)),
                    None => projection,
                })
            })
            .unwrap_or_else(|never| match never {});
        Self { llama, ..self }
    }

    fn into_record(self) -> AdapterCheckpoint<B> {
        AdapterCheckpoint {
            adapters: self
                .llama
                .adapters()
                .into_iter()
                .map(|(path, layer)| AdapterState::of(path, layer))
                .collect(),
        }
    }
}

impl<B: LlamaAutodiffBackend> AutodiffModule<B> for CausalLm<B> {
    type InnerModule = CausalLm<B::InnerBackend>;

    fn valid(&self) -> CausalLm<B::InnerBackend> {
        CausalLm {
            llama: self.llama.valid(),
            shards: self.shards,
            activation_checkpointing: self.activation_checkpointing,
        }
    }

    fn from_inner(module: CausalLm<B::InnerBackend>) -> Self {
        CausalLm {
            llama: Llama::from_inner(module.llama),
            shards: module.shards,
            activation_checkpointing: module.activation_checkpointing,
        }
    }
}

impl<B: LlamaAutodiffBackend> HasAutodiffModule<B> for CausalLm<B::InnerBackend> {
    type TrainModule = CausalLm<B>;
}

impl<B: LlamaBackend> std::fmt::Display for CausalLm<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let adapters = self.llama.adapters();
        let trainable: usize = adapters.iter().map(|(_, a)| a.num_trainable_params()).sum();
        write!(
            f,
            "CausalLm {{ {} layers, {} adapters, {trainable} trainable parameters }}",
            self.llama.layers.len(),
            adapters.len()
        )
    }
}
