//! The rooms of `rlora-train` (see the crate's docs) import only the rooms before them: no code
//! line of a room names a room after it, so there is no import circle between them.

use std::path::Path;

/// The rooms, each allowed to import only those before it.
const ROOMS: [&str; 8] = [
    "data",
    "trainer",
    "base",
    "report",
    "run",
    "cli",
    "experiment",
    "program",
];

/// Every `.rs` file of a room: `src/<room>.rs` or the files under `src/<room>/`.
fn files(src: &Path, room: &str) -> Vec<std::path::PathBuf> {
    let single = src.join(format!("{room}.rs"));
    if single.exists() {
        return vec![single];
    }
    let mut found = Vec::new();
    let mut folders = vec![src.join(room)];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn each_room_imports_only_the_rooms_before_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut upward = Vec::new();
    for (rank, room) in ROOMS.iter().enumerate() {
        let files = files(&src, room);
        assert!(!files.is_empty(), "room `{room}` has no files");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (number, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for later in &ROOMS[rank + 1..] {
                    if line.contains(&format!("crate::{later}")) {
                        upward.push(format!("{}:{}: {line}", file.display(), number + 1));
                    }
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports of a later room:\n{}",
        upward.join("\n")
    );
}
