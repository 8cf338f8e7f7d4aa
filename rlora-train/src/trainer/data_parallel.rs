//! [`DataParallel`]: how the devices of one process sum the gradients of an update.

use burn::train::{ExecutionStrategy, MultiDeviceOptim};

use super::config::TrainingConfig;

/// How a run on several devices of one process sums each update's gradients. Either way every
/// device trains on its own shard of the update (see the run's loader, `StreamLoader`) and
/// divides its loss by the whole update's counted tokens, so the sum is the gradient of one
/// batch of all the rows.
pub enum DataParallel {
    /// burn's multi-device strategy, on any backend: the devices' gradients are moved to the
    /// first device and summed there, which takes the optimizer update.
    Gather,
    /// burn's distributed data parallel strategy (`ddp` feature, CUDA): the gradients are summed
    /// by an all-reduce between the devices (NCCL) during each backward pass, and every device
    /// takes the same optimizer update on its own replica. The runtime is burn's session of the
    /// backend's collective operations (`ExecutionStrategy::ddp`, reduce operation `Sum`).
    #[cfg(feature = "ddp")]
    AllReduce(Box<dyn burn::train::DistributedRuntime>),
}

impl DataParallel {
    /// burn's execution strategy for `devices` (the model's device first).
    pub fn strategy<B: burn::tensor::backend::Backend>(
        self,
        devices: Vec<B::Device>,
    ) -> ExecutionStrategy<B> {
        match self {
            _ if devices.len() == 1 => ExecutionStrategy::single(devices[0].clone()),
            Self::Gather => ExecutionStrategy::multi(devices, MultiDeviceOptim::OptimMainDevice),
            #[cfg(feature = "ddp")]
            Self::AllReduce(runtime) => {
                ExecutionStrategy::DistributedDataParallel { devices, runtime }
            }
        }
    }

    /// How many times burn's loop steps the learning-rate scheduler per optimizer update on
    /// `devices` devices: once under the multi-device strategy; once per device under DDP,
    /// whose every device worker counts each device's batch as an iteration.
    #[cfg_attr(not(feature = "ddp"), allow(unused_variables))]
    pub fn scheduler_calls_per_update(&self, devices: usize) -> usize {
        match self {
            Self::Gather => 1,
            #[cfg(feature = "ddp")]
            Self::AllReduce(_) => devices.max(1),
        }
    }

    /// Whether `config` can train this way: under DDP, every backward pass of a device joins an
    /// all-reduce with the other devices' passes, so a device may not run several at once
    /// ([`TrainingConfig::batch_shards`] must be 1, as it is on a GPU).
    #[cfg_attr(not(feature = "ddp"), allow(unused_variables))]
    pub fn check(&self, config: &TrainingConfig) -> Result<(), String> {
        match self {
            Self::Gather => Ok(()),
            #[cfg(feature = "ddp")]
            Self::AllReduce(_) if config.batch_shards > 1 => Err(format!(
                "burn's DDP strategy runs one backward pass per device at a time: batch_shards \
                 is {}, it must be 1",
                config.batch_shards
            )),
            #[cfg(feature = "ddp")]
            Self::AllReduce(_) => Ok(()),
        }
    }
}
