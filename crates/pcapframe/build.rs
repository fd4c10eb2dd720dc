//! Stop early, with the fix, when libpcap's development files are missing: the linker's
//! "cannot find -lpcap" comes much later and says nothing about what to install.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBPCAP_LIBDIR");
    if std::env::var_os("LIBPCAP_LIBDIR").is_some() || std::env::var("CARGO_CFG_UNIX").is_err() {
        return;
    }
    let mut dirs: Vec<std::path::PathBuf> = [
        "/usr/lib",
        "/usr/lib64",
        "/usr/local/lib",
        "/opt/homebrew/lib",
        "/usr/local/opt/libpcap/lib",
    ]
    .iter()
    .map(Into::into)
    .collect();
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    let found = dirs.iter().any(|d| {
        ["libpcap.so", "libpcap.dylib", "libpcap.a", "libpcap.tbd"]
            .iter()
            .any(|f| d.join(f).exists())
    }) || Path::new("/Library/Developer/CommandLineTools/SDKs").exists();
    if !found {
        eprintln!(
            "\n\nlibpcap's development files were not found (no libpcap.so to link against).\n\
             Install them first:  apt-get install libpcap-dev   (Debian/Ubuntu)\n\
             \x20                    dnf install libpcap-devel  (Fedora)\n\
             or set LIBPCAP_LIBDIR to the directory that holds libpcap.\n\
             `bash scripts/setup.sh` does this for you on Debian.\n"
        );
        std::process::exit(1);
    }
}
