//! The per-task accuracy table of one or more [`EvalReport`]s, in Markdown.

use crate::trainer::EvalReport;

/// A Markdown table of `columns` (for example the base model and the adapted one), which must
/// list the same tasks.
pub fn markdown_table(columns: &[(&str, &EvalReport)]) -> String {
    let mut out = String::from("| task | metric | examples |");
    for (name, _) in columns {
        out.push_str(&format!(" {name} |"));
    }
    out.push_str("\n|---|---|---:|");
    out.push_str(&"---:|".repeat(columns.len()));
    out.push('\n');
    let Some((_, first)) = columns.first() else {
        return out;
    };
    for (i, task) in first.tasks.iter().enumerate() {
        out.push_str(&format!(
            "| {} | {} | {} |",
            task.task, task.metric, task.examples
        ));
        for (_, report) in columns {
            out.push_str(&format!(" {:.1}% |", 100.0 * report.tasks[i].accuracy));
        }
        out.push('\n');
    }
    for (label, micro) in [("macro average", false), ("micro average", true)] {
        out.push_str(&format!("| **{label}** | | |"));
        for (_, report) in columns {
            let average = if micro {
                report.micro_average
            } else {
                report.macro_average
            };
            out.push_str(&format!(" **{:.1}%** |", 100.0 * average));
        }
        out.push('\n');
    }
    out
}
