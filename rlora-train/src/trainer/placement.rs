//! [`Placement`]: the devices a run trains on, how they sum an update's gradients, and the
//! group of processes it trains with.

use super::data_parallel::DataParallel;
use super::group::{GroupSettings, GroupWatch, RunIdentity};

/// Where a run trains: the `devices` of this process (the model's device first), their
/// gradients summed as `parallel` says, alone or as `member` of a group of processes.
pub struct Placement<D> {
    /// This process's devices, the model's first.
    pub devices: Vec<D>,
    /// How they sum each update's gradients.
    pub parallel: DataParallel,
    /// The group this process trains with, if any.
    pub member: Option<GroupMember>,
}

/// A process's part in a group run.
#[derive(Debug, Clone)]
pub struct GroupMember {
    /// Its place in the group.
    pub settings: GroupSettings,
    /// What it trains (settings, data, base), which every process must share.
    pub identity: RunIdentity,
    /// What else the group needs, checked while waiting for it (rank 0's coordinator).
    pub watch: Option<GroupWatch>,
}

impl<D> Placement<D> {
    /// One device, alone.
    pub fn device(device: D) -> Self {
        Self::devices(vec![device], DataParallel::Gather)
    }

    /// `devices` of this process, alone, summing their gradients as `parallel` says.
    pub fn devices(devices: Vec<D>, parallel: DataParallel) -> Self {
        Self {
            devices,
            parallel,
            member: None,
        }
    }

    /// `devices` of this process as `member` of its group: the process joins the group
    /// (refusing processes whose settings, training data, base model, initial adapters or
    /// resumed checkpoint differ, naming what differs), trains on its shards of every update, and
    /// sums every update's gradients and loss over the group with burn's collective all-reduce
    /// before the optimizer update, which is then the same in every process: the run of one
    /// process with the whole batch. Its devices sum their gradients with burn's multi-device
    /// strategy before the exchange.
    pub fn in_group(devices: Vec<D>, member: GroupMember) -> Self {
        Self {
            devices,
            parallel: DataParallel::Gather,
            member: Some(member),
        }
    }
}
