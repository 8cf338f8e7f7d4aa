//! What a run leaves for people to read: the per-task accuracy table, the pictures (line charts
//! and heat maps, drawn with `plotters` in an embedded font), and JSON files, each written
//! atomically.
//!
//! Imports [`trainer`](crate::trainer).

mod heat_map;
mod line_chart;
mod pictures;
mod plot;
mod table;

pub use heat_map::heat_map_png;
pub use line_chart::{Series, line_chart_png, series_color};
pub use pictures::{head_heat_maps, routing_heat_maps, training_curves};
pub use plot::{PlotError, colormap};
pub use table::markdown_table;

/// Writes `value` as pretty JSON to `path`, atomically.
pub fn write_json(
    path: &std::path::Path,
    value: &impl serde::Serialize,
) -> Result<(), rlora::RLoraError> {
    let json = serde_json::to_vec_pretty(value).map_err(|e| rlora::RLoraError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    rlora::io::write_atomically(path, &json)
}
