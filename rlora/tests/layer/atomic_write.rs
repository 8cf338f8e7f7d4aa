//! `write_atomically`: a failed write names the target and the system's reason, and leaves no
//! temporary file behind.

use rlora::io::write_atomically;

#[test]
fn a_failed_write_names_the_file_and_leaves_nothing_behind() {
    let dir = std::env::temp_dir().join(format!("rlora-atomic-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The target is a folder with a file in it: the temporary file is written, the rename fails.
    let target = dir.join("adapter_config.json");
    std::fs::create_dir_all(target.join("inside")).unwrap();
    let error = write_atomically(&target, b"{}").unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("{}: ", target.display())),
        "{error}"
    );
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(left, ["adapter_config.json"]);

    write_atomically(&dir.join("fine.json"), b"{}").unwrap();
    assert_eq!(std::fs::read(dir.join("fine.json")).unwrap(), b"{}");
    // Under a file, the folder cannot be made: that is named too.
    let error = write_atomically(&dir.join("fine.json/y.json"), b"{}")
        .unwrap_err()
        .to_string();
    assert!(error.contains("fine.json"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}
