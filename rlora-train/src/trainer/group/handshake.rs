//! [`GroupIdentity`]: what every process of a group must share before its first step (its
//! settings, its training data, its base model, its adapters' initial weights, the checkpoint it
//! resumes from), compared at the handshake.
//!
//! Each process writes its digests into its own row of a `[nodes, WORDS]` table of zeros
//! (128-bit digests as eight 16-bit words, which `f32` holds exactly) and the group sums the
//! tables: every process then reads every row, unchanged, and all of them reach the same
//! verdict. When the settings, data or base differ somewhere, every process then sends its
//! [`RunIdentity`] itself (its JSON, one byte per `f32`, in a second table summed the same way),
//! so that the error names the settings, tasks and base files that differ.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rlora_llama::{Llama, LlamaBackend};
use xxhash_rust::xxh3::Xxh3;

use super::{GroupError, GroupFault, ProcessGroup, RunIdentity};

/// 16-bit words per 128-bit digest.
const DIGEST_WORDS: usize = 8;
/// A row: presence, the settings', data's, base's and adapters' digests, resumed checkpoint + 1
/// (0: none), the checkpoint's digest, the length of the identity's JSON.
const WORDS: usize = 1 + 4 * DIGEST_WORDS + 1 + DIGEST_WORDS + 1;
/// Where each digest starts in a row.
const SETTINGS: usize = 1;
const DATA: usize = SETTINGS + DIGEST_WORDS;
const BASE: usize = DATA + DIGEST_WORDS;
const ADAPTERS: usize = BASE + DIGEST_WORDS;
const EPOCH: usize = ADAPTERS + DIGEST_WORDS;
const CHECKPOINT: usize = EPOCH + 1;
const LENGTH: usize = CHECKPOINT + DIGEST_WORDS;
/// The longest identity JSON a row can announce (an `f32` holds every integer up to 2^24).
const MAX_LENGTH: usize = 1 << 24;

/// What the processes of a group must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupIdentity {
    /// The run's settings, training data and base model, in named parts.
    pub run: RunIdentity,
    /// XXH3-128 of the adapters' initial weights ([`digest_adapters`]).
    pub adapters: u128,
    /// The checkpoint a resumed run continues from, and the XXH3-128 of its files.
    pub resume: Option<(usize, u128)>,
}

/// One process's row of the handshake's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Digests {
    settings: u128,
    data: u128,
    base: u128,
    adapters: u128,
    resume: Option<(usize, u128)>,
    /// The length of the process's identity JSON, in bytes.
    length: usize,
}

impl Digests {
    /// The digests of the parts the second exchange names.
    fn named(&self) -> (u128, u128, u128) {
        (self.settings, self.data, self.base)
    }

    fn row(&self) -> [f32; WORDS] {
        let mut row = [0.0; WORDS];
        row[0] = 1.0;
        write_digest(&mut row[SETTINGS..DATA], self.settings);
        write_digest(&mut row[DATA..BASE], self.data);
        write_digest(&mut row[BASE..ADAPTERS], self.base);
        write_digest(&mut row[ADAPTERS..EPOCH], self.adapters);
        if let Some((epoch, digest)) = self.resume {
            row[EPOCH] = (epoch + 1) as f32;
            write_digest(&mut row[CHECKPOINT..LENGTH], digest);
        }
        row[LENGTH] = self.length as f32;
        row
    }

    fn from_row(row: &[f32]) -> Self {
        let resume = (row[EPOCH] > 0.0).then(|| {
            (
                row[EPOCH] as usize - 1,
                read_digest(&row[CHECKPOINT..LENGTH]),
            )
        });
        Self {
            settings: read_digest(&row[SETTINGS..DATA]),
            data: read_digest(&row[DATA..BASE]),
            base: read_digest(&row[BASE..ADAPTERS]),
            adapters: read_digest(&row[ADAPTERS..EPOCH]),
            resume,
            length: row[LENGTH] as usize,
        }
    }

    /// How `other`'s checkpoint or initial adapters differ from these, in words.
    fn difference(&self, other: &Self) -> Option<String> {
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
                 numbers)"
                    .into(),
            );
        }
        None
    }
}

impl GroupIdentity {
    /// Exchanges identities with the group and checks that every process has this one.
    ///
    /// # Errors
    /// A rank that no process took or that two took, or a process whose settings, data, base,
    /// initial adapters or checkpoint differ from this one's (naming both ranks and what
    /// differs: each setting with both values, each task, each base file); or the exchange
    /// itself failed.
    pub fn check<B: Backend>(
        &self,
        group: &ProcessGroup<B>,
        device: &B::Device,
    ) -> Result<(), GroupError> {
        group.introduce("the handshake")?;
        let error = |fault| group.settings().error(None, fault);
        let json = serde_json::to_vec(&self.run)
            .map_err(|e| error(GroupFault::Handshake(format!("the identity's JSON: {e}"))))?;
        let mine = self.digests(json.len());
        let rows = exchange_digests(group, device, &mine)?;
        if let Some(rank) = rows.iter().position(|row| row.length > MAX_LENGTH) {
            return Err(error(GroupFault::Handshake(format!(
                "the identity of rank {rank} (its settings, tasks and base files) is more than \
                 the handshake's {MAX_LENGTH} bytes"
            ))));
        }
        let differ = rows.iter().any(|row| row.named() != mine.named());
        let agreed = rows.iter().all(|row| row.named() == rows[0].named());
        if !agreed {
            // Every process sees the same rows, so all of them take this second exchange.
            let others = exchange_runs(group, device, &json, &rows)?;
            for (other, run) in others.iter().enumerate() {
                if let Some(difference) = self.run.difference(run) {
                    return Err(error(GroupFault::Differs {
                        rank: other,
                        difference,
                    }));
                }
            }
            if differ {
                return Err(error(GroupFault::Handshake(
                    "the settings, data or base of another process differ from this one's".into(),
                )));
            }
        }
        for (other, row) in rows.iter().enumerate() {
            if let Some(difference) = mine.difference(row) {
                return Err(error(GroupFault::Differs {
                    rank: other,
                    difference,
                }));
            }
        }
        Ok(())
    }

    fn digests(&self, length: usize) -> Digests {
        Digests {
            settings: self.run.settings_digest(),
            data: self.run.data_digest(),
            base: self.run.base_digest(),
            adapters: self.adapters,
            resume: self.resume,
            length,
        }
    }
}

/// Sums the table holding `mine` in this process's row over the group; refuses a rank that no
/// process took, or several did; returns every process's row.
fn exchange_digests<B: Backend>(
    group: &ProcessGroup<B>,
    device: &B::Device,
    mine: &Digests,
) -> Result<Vec<Digests>, GroupError> {
    let summed = exchange_table(group, device, WORDS, &mine.row(), "the handshake")?;
    let last_rank = group.size() - 1;
    let error = |fault| group.settings().error(None, fault);
    for (other, row) in summed.chunks(WORDS).enumerate() {
        // A row's presence word sums the processes that took its rank.
        match row[0] {
            1.0 => {}
            0.0 => {
                return Err(error(GroupFault::RankMissing {
                    rank: other,
                    last_rank,
                }));
            }
            many => {
                return Err(error(GroupFault::RankTaken {
                    rank: other,
                    count: many as usize,
                }));
            }
        }
    }
    Ok(summed.chunks(WORDS).map(Digests::from_row).collect())
}

/// Every process's [`RunIdentity`], sent as its JSON `json` (of the lengths in `rows`).
fn exchange_runs<B: Backend>(
    group: &ProcessGroup<B>,
    device: &B::Device,
    json: &[u8],
    rows: &[Digests],
) -> Result<Vec<RunIdentity>, GroupError> {
    let width = rows.iter().map(|row| row.length).max().unwrap_or(0);
    let bytes: Vec<f32> = json.iter().map(|&byte| f32::from(byte)).collect();
    let summed = exchange_table(group, device, width, &bytes, "the handshake's identities")?;
    rows.iter()
        .zip(summed.chunks(width.max(1)))
        .enumerate()
        .map(|(rank, (row, words))| {
            let json: Vec<u8> = words[..row.length.min(words.len())]
                .iter()
                .map(|&word| word as u8)
                .collect();
            serde_json::from_slice(&json).map_err(|e| {
                group.settings().error(
                    None,
                    GroupFault::Handshake(format!(
                        "rank {rank} sent an identity this version cannot read ({e})"
                    )),
                )
            })
        })
        .collect()
}

/// Sums over the group a `[nodes, width]` table of zeros holding `row` in this process's row
/// (`row` may be shorter than `width`); returns the summed table.
pub(super) fn exchange_table<B: Backend>(
    group: &ProcessGroup<B>,
    device: &B::Device,
    width: usize,
    row: &[f32],
    what: &str,
) -> Result<Vec<f32>, GroupError> {
    let (nodes, rank) = (group.size(), group.rank());
    let mut table = vec![0.0f32; nodes * width];
    table[rank * width..rank * width + row.len()].copy_from_slice(row);
    let table = Tensor::<B, 1>::from_data(TensorData::new(table, [nodes * width]), device);
    group
        .all_reduce_sum(table, what)?
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| {
            let fault = GroupFault::Handshake(format!("the summed table: {e:?}"));
            group.settings().error(Some(what), fault)
        })
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
pub fn digest_adapters<B: LlamaBackend>(model: &Llama<B>) -> u128 {
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
    fn digests_survive_their_row_and_differences_are_named() {
        let digests = Digests {
            settings: 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
            data: 3,
            base: u128::MAX - 1,
            adapters: u128::MAX,
            resume: Some((12, 7)),
            length: 4321,
        };
        assert_eq!(Digests::from_row(&digests.row()), digests);
        let fresh = Digests {
            resume: None,
            ..digests
        };
        assert_eq!(Digests::from_row(&fresh.row()), fresh);
        assert_eq!(digests.difference(&digests), None);
        let text = digests.difference(&fresh).unwrap();
        assert!(
            text.contains("starts a new run") && text.contains("resumes checkpoint 12"),
            "{text}"
        );
        let other = Digests {
            adapters: 0,
            ..digests
        };
        assert!(
            digests
                .difference(&other)
                .unwrap()
                .contains("initial adapter weights")
        );
    }
}
