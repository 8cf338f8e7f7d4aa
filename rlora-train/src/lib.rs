//! Multi-task training and evaluation with burn's Learner (issue: rlora-train). Nothing here yet.
