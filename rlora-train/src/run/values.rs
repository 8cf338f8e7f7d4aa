//! The value parsers of the flags (numbers in a domain, `--mixing`), negative numbers as flag
//! values, and the spelling of a `ValueEnum` flag's value, which run files also use.

use std::any::TypeId;

use clap::ValueEnum;
use clap::builder::Command;
use serde::{Deserialize, Deserializer, Serializer};

use crate::data::Mixing;

/// Parses a value in `[0, ∞)`.
pub fn non_negative(value: &str) -> Result<f64, String> {
    let v: f64 = value
        .parse()
        .map_err(|e| format!("`{value}` is not a number: {e}"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("must be finite and ≥ 0, got {value}"))
    }
}

/// Parses a probability in `(0, 1]`.
pub fn probability(value: &str) -> Result<f64, String> {
    let v: f64 = value
        .parse()
        .map_err(|e| format!("`{value}` is not a number: {e}"))?;
    if v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("must be in (0, 1], got {value}"))
    }
}

/// Parses a positive number.
pub fn positive(value: &str) -> Result<f64, String> {
    let v = non_negative(value)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(format!("must be positive, got {value}"))
    }
}

/// Parses a fraction in `[0, 1)`.
pub fn fraction(value: &str) -> Result<f64, String> {
    let v = non_negative(value)?;
    if v < 1.0 {
        Ok(v)
    } else {
        Err(format!("must be in [0, 1), got {value}"))
    }
}

/// `command` with every flag whose value is a number accepting a value that starts with `-`,
/// in every subcommand: `--lr -1e-3` reaches the flag's parser, which says what is wrong with it,
/// where clap would report an unexpected argument `-1e-3` (its `allow_negative_numbers` does not
/// take exponents such as `-1e-3`).
pub fn numbers_may_be_negative(command: Command) -> Command {
    let numbers = [
        TypeId::of::<f64>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
    ];
    command
        .mut_args(|arg| {
            let value = arg.get_value_parser().type_id();
            if numbers.iter().any(|&number| value == number) {
                arg.allow_hyphen_values(true)
            } else {
                arg
            }
        })
        .mut_subcommands(numbers_may_be_negative)
}

/// Parses `proportional`, `uniform`, `temperature:T` or `weights:W1,W2,…`.
pub fn mixing(value: &str) -> Result<Mixing, String> {
    match value.split_once(':') {
        None if value == "proportional" => Ok(Mixing::Proportional),
        None if value == "uniform" => Ok(Mixing::Uniform),
        Some(("temperature", t)) => Ok(Mixing::Temperature(positive(t)?)),
        Some(("weights", w)) => w
            .split(',')
            .map(non_negative)
            .collect::<Result<Vec<_>, _>>()
            .map(Mixing::Weights),
        _ => Err(format!(
            "`{value}`: expected proportional, uniform, temperature:T or weights:W1,W2,…"
        )),
    }
}

/// The command-line spelling of a flag's value (`kaiming-uniform`, `rlora-init-only`).
pub fn flag_value(value: &impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// Serde as a flag's spelling, for `ValueEnum` fields of run files: `#[serde(with = "flag")]`.
pub mod flag {
    use super::*;

    /// Writes `value` as its flag spelling.
    pub fn serialize<S: Serializer, V: ValueEnum>(
        value: &V,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&flag_value(value))
    }

    /// Reads a flag spelling.
    pub fn deserialize<'de, D: Deserializer<'de>, V: ValueEnum>(
        deserializer: D,
    ) -> Result<V, D::Error> {
        let text = String::deserialize(deserializer)?;
        V::from_str(&text, false).map_err(serde::de::Error::custom)
    }
}

/// Writes an optional `ValueEnum` field as its flag spelling, or null.
pub fn serialize_optional_flag<S: Serializer, V: ValueEnum>(
    value: &Option<V>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => flag::serialize(value, serializer),
        None => serializer.serialize_none(),
    }
}

/// Serializes a value as its `Display` text (the form its flag takes).
pub fn serialize_display<S: Serializer>(
    value: &impl std::fmt::Display,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}
