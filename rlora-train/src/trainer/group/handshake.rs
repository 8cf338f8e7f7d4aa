//! [`GroupIdentity`]: what every process of a group must share before its first step (its
//! settings, its adapters' initial weights, the checkpoint it resumes from), compared in one
//! all-reduce at the handshake.
//!
//! Each process writes its identity into its own row of a `[nodes, WORDS]` table of zeros
//! (128-bit digests as eight 16-bit words, which `f32` holds exactly) and the group sums the
//! tables: every process then reads every row, unchanged, and all of them reach the same
//! verdict.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rlora_llama::Llama;
use xxhash_rust::xxh3::Xxh3;

use super::ProcessGroup;

/// 16-bit words per 128-bit digest.
const DIGEST_WORDS: usize = 8;
/// A row: presence, settings digest, adapters digest, resumed checkpoint + 1 (0: none),
/// checkpoint digest.
const WORDS: usize = 1 + DIGEST_WORDS + DIGEST_WORDS + 1 + DIGEST_WORDS;

/// What the processes of a group must agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupIdentity {
    /// XXH3-128 of the run's settings (`run_config.json`'s content).
    pub settings: u128,
    /// XXH3-128 of the adapters' initial weights ([`digest_adapters`]).
    pub adapters: u128,
    /// The checkpoint a resumed run continues from, and the XXH3-128 of its files.
    pub resume: Option<(usize, u128)>,
}

impl GroupIdentity {
    /// Exchanges identities with the group and checks that every process has this one.
    ///
    /// # Errors
    /// A rank that no process took or that two took, or a process whose settings, initial
    /// adapters or checkpoint differ from this one's (naming both ranks and what differs); or
    /// the exchange itself failed.
    pub fn check<B: Backend>(
        &self,
        group: &ProcessGroup<B>,
        device: &B::Device,
    ) -> Result<(), String> {
        let (nodes, rank) = (group.size(), group.rank());
        let mut table = vec![0.0f32; nodes * WORDS];
        table[rank * WORDS..(rank + 1) * WORDS].copy_from_slice(&self.row());
        let table = Tensor::<B, 1>::from_data(TensorData::new(table, [nodes * WORDS]), device);
        let summed = group
            .all_reduce_sum(table, "the handshake")?
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| format!("the handshake: {e:?}"))?;
        for (other, row) in summed.chunks(WORDS).enumerate() {
            let me = group.settings().describe();
            match row[0] {
                1.0 => {}
                0.0 => {
                    return Err(format!(
                        "{me}: no process took rank {other}: every rank 0..{} must be given \
                         to exactly one process (--node-rank)",
                        nodes - 1
                    ));
                }
                many => {
                    return Err(format!(
                        "{me}: {many} processes were started with --node-rank {other}"
                    ));
                }
            }
            if let Some(difference) = self.difference(&Self::from_row(row)) {
                return Err(format!(
                    "{me}: rank {other} {difference}: start every process of the group with \
                     the same flags, model and task files"
                ));
            }
        }
        Ok(())
    }

    /// How `other` differs from this identity, in words.
    fn difference(&self, other: &Self) -> Option<String> {
        if other.settings != self.settings {
            return Some(
                "was started with other settings (its run_config.json has another digest)".into(),
            );
        }
        if other.resume != self.resume {
            let describe = |resume: Option<(usize, u128)>| match resume {
                None => "starts a new run".to_string(),
                Some((epoch, _)) => format!("resumes checkpoint {epoch}"),
            };
            return Some(format!(
                "{} (its checkpoint files differ) while this process {}",
                describe(other.resume),
                describe(self.resume)
            ));
        }
        if other.adapters != self.adapters {
            return Some(
                "starts from other initial adapter weights (the backend drew other random \
                 numbers, or the base model's files differ)"
                    .into(),
            );
        }
        None
    }

    fn row(&self) -> [f32; WORDS] {
        let mut row = [0.0; WORDS];
        row[0] = 1.0;
        write_digest(&mut row[1..9], self.settings);
        write_digest(&mut row[9..17], self.adapters);
        if let Some((epoch, digest)) = self.resume {
            row[17] = (epoch + 1) as f32;
            write_digest(&mut row[18..26], digest);
        }
        row
    }

    fn from_row(row: &[f32]) -> Self {
        let resume = (row[17] > 0.0).then(|| (row[17] as usize - 1, read_digest(&row[18..26])));
        Self {
            settings: read_digest(&row[1..9]),
            adapters: read_digest(&row[9..17]),
            resume,
        }
    }
}

fn write_digest(words: &mut [f32], digest: u128) {
    for (i, word) in words.iter_mut().enumerate() {
        *word = ((digest >> (16 * i)) & 0xffff) as f32;
    }
}

fn read_digest(words: &[f32]) -> u128 {
    words.iter().enumerate().fold(0, |digest, (i, &word)| {
        digest | ((word as u128) << (16 * i))
    })
}

/// XXH3-128 of every adapter's trainable and frozen initial tensors (`A`, the heads, the
/// router, the initial offset), in the model's adapter order.
pub fn digest_adapters<B: Backend>(model: &Llama<B>) -> u128 {
    let mut hasher = Xxh3::new();
    for (path, adapter) in model.adapters() {
        hasher.update(path.as_bytes());
        let mut tensors = vec![adapter.lora_a.val(), adapter.lora_b.val()];
        tensors.extend(adapter.router.as_ref().map(|r| r.val()));
        if let Some(offset) = &adapter.offset {
            tensors.extend([offset.a.val(), offset.b.val()]);
        }
        for tensor in tensors {
            hasher.update(&tensor.into_data().bytes);
        }
    }
    hasher.digest128()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_survives_its_row_and_differences_are_named() {
        let identity = GroupIdentity {
            settings: 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
            adapters: u128::MAX,
            resume: Some((12, 7)),
        };
        assert_eq!(GroupIdentity::from_row(&identity.row()), identity);
        let fresh = GroupIdentity {
            resume: None,
            ..identity
        };
        assert_eq!(GroupIdentity::from_row(&fresh.row()), fresh);
        assert_eq!(identity.difference(&identity), None);
        let other = GroupIdentity {
            settings: 1,
            ..identity
        };
        assert!(
            identity
                .difference(&other)
                .unwrap()
                .contains("other settings")
        );
        let text = identity.difference(&fresh).unwrap();
        assert!(
            text.contains("starts a new run") && text.contains("resumes checkpoint 12"),
            "{text}"
        );
        let other = GroupIdentity {
            adapters: 0,
            ..identity
        };
        assert!(
            identity
                .difference(&other)
                .unwrap()
                .contains("initial adapter weights")
        );
    }
}
