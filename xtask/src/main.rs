//! Project tasks: `cargo xtask test` sets up a fresh machine and runs every check;
//! `cargo xtask demo` runs the demo.
//!
//! Plain std on purpose: it must build in seconds on a machine that has nothing else yet.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};

const USAGE: &str = "usage: cargo xtask <test|demo|ssr|e2e|bench|api|size|fuzz [seconds]>
  test   install what is missing (wasm target, Chromium + chromedriver, wasm-bindgen-cli at
         the lockfile's version, trunk, the e2e npm packages), then run fmt, clippy (host and
         wasm32), native tests, the session simulation (10,000 seeded histories;
         SIM_HISTORIES=N for more), the refresh benchmark, the browser tests in headless
         Chromium and the Playwright end-to-end suites (the demo, the server-rendered example)
  demo   run the demo app and demo server: http://127.0.0.1:8080
  ssr    build and run the server-rendered example (examples/ssr): http://127.0.0.1:3000
  e2e    only the Playwright end-to-end suites
  bench  print the refresh engine's figures for a simulated hour
  api    write the public API snapshot (tests/public-api.txt) from rustdoc; `test` checks
         that it is current, so a change of the public surface shows in review
  size   build the size benchmark's two apps (benches/size) as a user ships them and print
         what the library adds to the wasm, raw and gzip
  fuzz   explore with every fuzz target for [seconds] each (default 60; needs the nightly
         toolchain); `test` runs them from the committed seeds with a fixed random seed and a
         fixed number of inputs when nightly is there, the same inputs on every machine";

const WASM: &str = "wasm32-unknown-unknown";

/// The trunk release that builds with this machine's Rust (newer ones need a newer Rust).
const TRUNK_VERSION: &str = "0.21.14";

fn main() {
    let task = env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "test" => test(),
        "demo" => demo(),
        "ssr" => ssr(),
        "e2e" => setup().and_then(|()| e2e()),
        "bench" => bench(),
        "size" => size(),
        "api" => api(ApiRun::Write),
        "fuzz" => match env::args().nth(2).map(|s| s.parse::<u64>()) {
            None => fuzz(FuzzRun::Explore { seconds: 60 }),
            Some(Ok(seconds)) => fuzz(FuzzRun::Explore { seconds }),
            Some(Err(_)) => Err("fuzz takes a number of seconds per target".into()),
        },
        _ => {
            eprintln!("{USAGE}");
            exit(2);
        }
    };
    if let Err(message) = result {
        eprintln!("xtask {task}: {message}");
        exit(1);
    }
}

type Result = std::result::Result<(), String>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn cargo() -> Command {
    let mut command = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root());
    command
}

fn run(what: &str, command: &mut Command) -> Result {
    println!("\n==> {what}");
    let status = command
        .status()
        .map_err(|err| format!("{what}: could not start: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what}: failed ({status})"))
    }
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn test() -> Result {
    setup()?;
    run(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--check"]),
    )?;
    // (what, the package and targets checked, features, target triple)
    let clippy_runs: [(&str, &[&str], Option<&str>, Option<&str>); 7] = [
        ("host", &["--workspace", "--all-targets"], None, None),
        (
            "wasm32",
            &["-p", "leptos-auth-kit", "--all-targets"],
            None,
            Some(WASM),
        ),
        (
            "server half: ssr",
            &["-p", "leptos-auth-kit", "--all-targets"],
            Some("ssr"),
            None,
        ),
        (
            "browser half: wasm32, hydrate",
            &["-p", "leptos-auth-kit", "--lib"],
            Some("hydrate"),
            Some(WASM),
        ),
        (
            "demo app: wasm32",
            &["-p", "demo", "--all-targets"],
            None,
            Some(WASM),
        ),
        (
            "ssr example, server",
            &["-p", "ssr-example", "--all-targets"],
            Some("ssr"),
            None,
        ),
        (
            "ssr example, browser",
            &["-p", "ssr-example", "--lib"],
            Some("hydrate"),
            Some(WASM),
        ),
    ];
    for (what, packages, features, target) in clippy_runs {
        let mut clippy = cargo();
        clippy.arg("clippy").args(packages);
        if let Some(features) = features {
            clippy.args(["--features", features]);
        }
        if let Some(target) = target {
            clippy.args(["--target", target]);
        }
        run(
            &format!("clippy ({what})"),
            clippy.args(["--", "-D", "warnings"]),
        )?;
    }
    api(ApiRun::Check)?;
    run(
        "native tests",
        // The session simulation runs next, optimised.
        cargo().args(["test", "--workspace", "--", "--skip", "engine::simulation"]),
    )?;
    // The server half: rendering with request parts, and reading sessions from headers.
    for (what, target) in [
        ("server render tests (ssr)", ["--test", "ssr"]),
        ("server session reading tests (ssr)", ["--lib", "server::"]),
    ] {
        run(
            what,
            cargo()
                .args(["test", "-p", "leptos-auth-kit", "--features", "ssr"])
                .args(target),
        )?;
    }
    simulation()?;
    bench()?;
    run(
        "browser tests (headless Chromium)",
        cargo()
            .args([
                "test",
                "-p",
                "leptos-auth-kit",
                "--target",
                WASM,
                "--tests", // the doc tests already ran on the host
            ])
            .env("CHROMEDRIVER", chromedriver()),
    )?;
    fuzz(FuzzRun::Check)?;
    size()?;
    e2e()?;
    println!("\nall checks passed");
    Ok(())
}

/// The deterministic multi-tab simulation of the session engine, optimised so that 10,000
/// histories take seconds (`SIM_HISTORIES` runs more): once with consistent reads of storage,
/// once with each tab's reads lagging up to 100 ms behind the others' writes, as Chromium
/// hands them between processes.
fn simulation() -> Result {
    for (reads, lag) in [("consistent", "0"), ("lagging up to 100 ms", "100")] {
        run(
            &format!(
                "session simulation (seeded multi-tab histories against a model token \
                 server), reads {reads}"
            ),
            cargo()
                .args([
                    "test",
                    "--release",
                    "-p",
                    "leptos-auth-kit",
                    "--lib",
                    "engine::simulation",
                    "--",
                    "--nocapture",
                ])
                .env("SIM_READ_LAG_MS", lag),
        )?;
    }
    Ok(())
}

/// The fuzz targets (`fuzz/fuzz_targets`), the dictionary (`fuzz/dict`) each uses (the
/// schedule's input is binary) and how many inputs `cargo xtask test` gives each (about 5 s on
/// 2 cores; the schedule target runs the session engine for hours of simulated time per input).
const FUZZ_TARGETS: [(&str, Option<&str>, u32); 6] = [
    ("token", Some("json"), 500_000),
    ("record", Some("json"), 500_000),
    ("cookie", Some("cookie"), 500_000),
    ("safe_next", Some("url"), 500_000),
    ("answer", Some("json"), 500_000),
    ("schedule", None, 3_000),
];

/// How the fuzz targets run.
#[derive(Clone, Copy)]
enum FuzzRun {
    /// `cargo xtask test`: the committed seeds, a fixed random seed and a fixed number of
    /// inputs, so every machine tries the same inputs and a red run is reproducible; what it
    /// finds stays out of `fuzz/corpus`.
    Check,
    /// `cargo xtask fuzz`: a new random seed each run, for `seconds` per target, growing
    /// `fuzz/corpus`.
    Explore { seconds: u64 },
}

/// The nightly toolchain's cargo (through rustup), whatever toolchain runs xtask.
fn nightly_cargo() -> Command {
    let mut command = Command::new("cargo");
    command
        .arg("+nightly")
        .current_dir(root())
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO");
    command
}

/// Runs every fuzz target from its committed seeds (`fuzz/seeds`), and when exploring, the
/// corpus it grew before (`fuzz/corpus`, not committed); prints what each tried.
fn fuzz(how: FuzzRun) -> Result {
    let toolchains = output("rustup", &["toolchain", "list"]).unwrap_or_default();
    if !toolchains.lines().any(|line| line.starts_with("nightly")) {
        println!("\n==> fuzz: skipped (no nightly toolchain; `rustup toolchain install nightly`)");
        return Ok(());
    }
    let mut version = nightly_cargo();
    version.args(["fuzz", "--version"]);
    if !version.output().is_ok_and(|out| out.status.success()) {
        run(
            "install cargo-fuzz",
            cargo().args(["install", "cargo-fuzz", "--locked"]),
        )?;
    }
    // No sanitizer: the code is safe Rust; debug assertions catch overflows.
    let flags = ["-s", "none", "-a"];
    run(
        "build the fuzz targets (nightly)",
        nightly_cargo().args(["fuzz", "build"]).args(flags),
    )?;
    match how {
        FuzzRun::Check => println!("\n==> fuzz (seeds, fixed random seed and input count)"),
        FuzzRun::Explore { seconds } => println!("\n==> fuzz ({seconds} s per target)"),
    }
    for (target, dict, runs) in FUZZ_TARGETS {
        let corpus = match how {
            FuzzRun::Check => root().join("target/fuzz-check").join(target),
            FuzzRun::Explore { .. } => root().join("fuzz/corpus").join(target),
        };
        if let FuzzRun::Check = how {
            // Start from the seeds alone; a file left from an earlier run is no longer there.
            let _ = std::fs::remove_dir_all(&corpus);
        }
        std::fs::create_dir_all(&corpus).map_err(|err| format!("{}: {err}", corpus.display()))?;
        let limit = match how {
            FuzzRun::Check => vec!["-seed=1".to_owned(), format!("-runs={runs}")],
            FuzzRun::Explore { seconds } => vec![format!("-max_total_time={seconds}")],
        };
        let out = nightly_cargo()
            .args(["fuzz", "run"])
            .args(flags)
            .arg(target)
            .arg(&corpus)
            .arg(root().join("fuzz/seeds").join(target))
            .arg("--")
            .args(dict.map(|dict| format!("-dict=fuzz/dict/{dict}.dict")))
            .args(limit)
            .output()
            .map_err(|err| format!("fuzz {target}: could not start: {err}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        let inputs = log
            .lines()
            .filter_map(|line| line.strip_prefix("Done ")?.split_whitespace().next())
            .next_back()
            .or_else(|| {
                // A crash ends the run before "Done": take the last progress line's count.
                log.lines()
                    .filter_map(|line| line.strip_prefix('#')?.split_whitespace().next())
                    .next_back()
            })
            .unwrap_or("?");
        if out.status.success() {
            println!("fuzz {target}: {inputs} inputs, 0 crashes");
        } else {
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
            println!("fuzz {target}: {inputs} inputs, 1 crash");
            return Err(format!(
                "fuzz {target} found a crash: the input is in fuzz/artifacts/{target}/ \
                 (replay: cargo +nightly fuzz run -s none -a {target} <file>)"
            ));
        }
    }
    Ok(())
}

fn bench() -> Result {
    run(
        "refresh benchmark (simulated hour)",
        // A unit test (ignored by `cargo test`): it drives the schedule's internals.
        cargo().args([
            "test",
            "--release",
            "-p",
            "leptos-auth-kit",
            "--lib",
            "refresh::bench",
            "--",
            "--ignored",
            "--nocapture",
        ]),
    )
}

/// Where the public API snapshot is committed. Its declarations are laid out as the rustdoc
/// of the toolchain that runs `cargo xtask` shows them (stable 1.95 on these machines and in
/// CI): another rustdoc may write the same signature differently.
const API_SNAPSHOT: &str = "tests/public-api.txt";

/// What `api` does with the surface it reads.
#[derive(Clone, Copy, PartialEq)]
enum ApiRun {
    /// `cargo xtask test`: fail when the surface differs from the snapshot.
    Check,
    /// `cargo xtask api`: write the snapshot.
    Write,
}

/// Builds the docs (`ssr` on, so the server half shows too; broken links are errors) and
/// reduces them to the public surface: one line per module, re-export (the prelude's
/// contents), item, field, variant, inherent method and trait implementation, each with its
/// path and its declaration as rustdoc shows it (a function's signature, a field's type, an
/// impl's bounds), so that a changed signature shows as well as a new or removed name.
/// Blanket and auto-trait implementations are left out: they come from the standard library
/// and other crates, not from this one.
fn api(how: ApiRun) -> Result {
    // Pages of items that are gone stay in target/doc: start afresh.
    let _ = std::fs::remove_dir_all(root().join("target/doc/leptos_auth_kit"));
    run(
        "rustdoc (broken links are errors)",
        cargo()
            .args([
                "doc",
                "--no-deps",
                "-p",
                "leptos-auth-kit",
                "--features",
                "ssr",
            ])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    let mut lines = Vec::new();
    surface(
        &root().join("target/doc/leptos_auth_kit"),
        "leptos_auth_kit",
        &mut lines,
    )?;
    lines.sort();
    lines.dedup();
    let now = lines.join("\n") + "\n";
    let path = root().join(API_SNAPSHOT);
    if how == ApiRun::Write {
        std::fs::write(&path, &now).map_err(|err| format!("{API_SNAPSHOT}: {err}"))?;
        println!("wrote {API_SNAPSHOT} ({} lines)", lines.len());
        return Ok(());
    }
    println!("\n==> public API against {API_SNAPSHOT}");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == now {
        println!("public API: {} lines, as committed", lines.len());
        return Ok(());
    }
    let old: Vec<&str> = committed.lines().collect();
    for line in old.iter().filter(|line| !lines.iter().any(|l| l == *line)) {
        println!("- {line}");
    }
    for line in lines.iter().filter(|line| !old.contains(&line.as_str())) {
        println!("+ {line}");
    }
    Err(format!(
        "the public API differs from {API_SNAPSHOT} (above): if the change is meant, \
         run `cargo xtask api` and commit the snapshot"
    ))
}

/// The public items documented under `dir` (the module `path`), into `lines`.
fn surface(dir: &Path, path: &str, lines: &mut Vec<String>) -> Result {
    // The module's own page lists what it re-exports (`pub use`).
    if let Ok(index) = std::fs::read_to_string(dir.join("index.html")) {
        for (id, _) in ids(&index) {
            if let Some(name) = id.strip_prefix("reexport.") {
                lines.push(format!("pub use {path}::{name}"));
            }
        }
    }
    let entries = std::fs::read_dir(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    let mut entries: Vec<_> = entries.filter_map(|entry| entry.ok()).collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() {
            // A public module has its own index page; a private one only redirects.
            if entry.path().join("index.html").exists() {
                let module = format!("{path}::{name}");
                lines.push(format!("mod {module}"));
                surface(&entry.path(), &module, lines)?;
            }
            continue;
        }
        let Some((kind, item)) = name
            .strip_suffix(".html")
            .and_then(|stem| stem.split_once('.'))
        else {
            continue;
        };
        let html = std::fs::read_to_string(entry.path())
            .map_err(|err| format!("{}: {err}", entry.path().display()))?;
        if html.contains("http-equiv=\"refresh\"") {
            continue; // a re-export's redirect: the item is listed where it lives
        }
        let item = format!("{path}::{item}");
        // The declaration: a function's or constant's signature; a type's head, its members
        // being listed one by one below, and whether it has private fields (adding one to a
        // struct whose fields are all public breaks code that builds it).
        let declaration = element_text(&html, "pre", "item-decl")
            .ok_or_else(|| format!("{item}: rustdoc shows no declaration"))?;
        let declaration = match kind {
            "struct" | "enum" | "union" | "trait" => {
                let head = declaration.split(" {").next().unwrap_or_default();
                if declaration.contains(" { /* private fields */ }") {
                    format!("{head} {{ /* private fields */ }}")
                } else if declaration.contains("/* private fields */ }") {
                    format!("{head} {{ …, /* private fields */ }}")
                } else {
                    head.to_owned()
                }
            }
            _ => declaration,
        };
        lines.push(format!("{kind} {item}: {declaration}"));
        // Only what this crate declares: not auto-trait, blanket or implementors' impls.
        let end = [
            "id=\"synthetic-implementations\"",
            "id=\"implementors\"",
            "id=\"foreign-impls\"",
        ]
        .iter()
        .filter_map(|marker| html.find(marker))
        .min()
        .unwrap_or(html.len());
        let mut inherent = true;
        for (id, after) in ids(&html[..end]) {
            let id = unnumbered(&id)
                .replace("%3C", "<")
                .replace("%3E", ">")
                .replace('+', " ");
            if let Some(implementation) = id.strip_prefix("impl-") {
                inherent = !implementation.contains("-for-");
                // `StructuralPartialEq` comes with a derived `PartialEq`, already listed.
                if !inherent && !implementation.starts_with("StructuralPartialEq-") {
                    let header = element_text(after, "h3", "code-header")
                        .ok_or_else(|| format!("{item}: rustdoc shows no header for {id}"))?;
                    lines.push(format!("{item}: {header}"));
                }
                continue;
            }
            let Some((what, member)) = id.split_once('.') else {
                continue;
            };
            // Members of trait impls are the trait's: the impl line stands for them.
            let own = inherent || kind == "trait";
            // Where rustdoc writes the member's declaration.
            let declaration = match what {
                // A variant's field (`Variant.field.name`); `Variant.fields` only groups them.
                "variant" if member.ends_with(".fields") => continue,
                "variant" if member.contains(".field.") => element_text(after, "code", ""),
                "variant" => element_text(after, "h3", "code-header"),
                "structfield" => element_text(after, "code", ""),
                "tymethod" => element_text(after, "h4", "code-header"),
                "method" | "associatedconstant" | "associatedtype" if own => {
                    element_text(after, "h4", "code-header")
                }
                _ => continue,
            };
            let declaration = declaration
                .ok_or_else(|| format!("{item}: rustdoc shows no declaration for {id}"))?;
            lines.push(format!("{item}::{member} ({what}): {declaration}"));
        }
    }
    Ok(())
}

/// The `id` attributes of an HTML page, in order, each with what follows it up to the next
/// `id` (the element that holds a member's declaration comes before the next member's id).
fn ids(html: &str) -> impl Iterator<Item = (String, &str)> + '_ {
    html.split(" id=\"").skip(1).filter_map(|rest| {
        let (id, after) = rest.split_once('"')?;
        Some((id.to_owned(), after))
    })
}

/// The text of the first `<{tag}…>…</{tag}>` element in `html` whose opening tag contains
/// `class` (any element when `class` is empty), as rustdoc shows it: tags dropped, entities
/// decoded, whitespace collapsed. `None` when there is none.
fn element_text(html: &str, tag: &str, class: &str) -> Option<String> {
    let open = format!("<{tag}");
    let mut rest = html;
    let body = loop {
        let start = rest.find(&open)?;
        let after = &rest[start + open.len()..];
        let (attributes, body) = after.split_once('>')?;
        if class.is_empty() || attributes.contains(class) {
            break body;
        }
        rest = body;
    };
    let body = &body[..body.find(&format!("</{tag}>"))?];
    Some(plain_text(body))
}

/// `text` with its HTML entities decoded: the named ones rustdoc writes and numeric ones
/// (`&#39;`, `&#x27;`); any other `&…;` is left as it is.
fn decode_entities(text: &str) -> String {
    let mut decoded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        decoded.push_str(&rest[..start]);
        rest = &rest[start..];
        let entity = rest[1..].find(';').map(|end| &rest[1..=end]);
        let named = match entity {
            Some("lt") => Some('<'),
            Some("gt") => Some('>'),
            Some("amp") => Some('&'),
            Some("quot") => Some('"'),
            Some("apos") => Some('\''),
            Some("nbsp") => Some(' '),
            Some(numeric) => numeric
                .strip_prefix("#x")
                .or_else(|| numeric.strip_prefix("#X"))
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| numeric.strip_prefix('#').map(|decimal| decimal.parse()))
                .and_then(|code| code.ok())
                .and_then(char::from_u32),
            None => None,
        };
        match (named, entity) {
            (Some(c), Some(entity)) => {
                decoded.push(c);
                rest = &rest[entity.len() + 2..];
            }
            _ => {
                decoded.push('&');
                rest = &rest[1..];
            }
        }
    }
    decoded.push_str(rest);
    decoded
}

/// HTML as text: tags dropped, entities decoded, whitespace collapsed.
fn plain_text(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            break;
        };
        // A line of its own (an attribute, a `where` clause) is set off by a space.
        let tag = &rest[start + 1..start + end];
        if ["div", "/div", "br"].contains(&tag.split(' ').next().unwrap_or_default()) {
            text.push(' ');
        }
        rest = &rest[start + end + 1..];
    }
    text.push_str(rest);
    let text = decode_entities(&text);
    // Long signatures are written one parameter a line, with a trailing comma.
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("( ", "(")
        .replace(", )", ")")
}

/// An id without the `-N` rustdoc adds to tell repeated ids apart (`method.from-2`).
fn unnumbered(id: &str) -> &str {
    match id.rsplit_once('-') {
        Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => id,
    }
}

/// The size benchmark's two apps (`benches/size`): the same small app written by hand and
/// with the library.
const SIZE_APPS: [&str; 2] = ["size-baseline", "size-with-library"];

/// The library's budget, in gzip bytes added to the app (issue 12).
const SIZE_BUDGET: u64 = 20 * 1024;

/// Builds both size apps as a user ships a CSR app (the `size` profile: opt-level "z", LTO,
/// one codegen unit, panic = "abort"; wasm-bindgen --target web; Binaryen's wasm-opt -Oz;
/// gzip -9) and prints raw and gzip sizes of the wasm and what the library adds.
fn size() -> Result {
    let bench_dir = root().join("benches/size");
    run(
        "npm ci (Binaryen's wasm-opt for the size benchmark)",
        &mut npm_ci(&bench_dir),
    )?;
    let mut sizes = Vec::new();
    for app in SIZE_APPS {
        run(
            &format!("build {app} (size profile, wasm32)"),
            cargo().args(["build", "-p", app, "--profile", "size", "--target", WASM]),
        )?;
        let out_dir = root().join("target/size").join(app);
        run(
            &format!("wasm-bindgen {app}"),
            Command::new("wasm-bindgen")
                .args(["--target", "web", "--no-typescript", "--out-dir"])
                .arg(&out_dir)
                .arg(root().join(format!("target/{WASM}/size/{app}.wasm"))),
        )?;
        let optimised = out_dir.join("optimised.wasm");
        run(
            &format!("wasm-opt -Oz {app}"),
            Command::new(bench_dir.join("node_modules/.bin/wasm-opt"))
                .arg("-Oz")
                .args([
                    "--enable-bulk-memory",
                    "--enable-sign-ext",
                    "--enable-nontrapping-float-to-int",
                    "--enable-reference-types",
                    "--enable-multivalue",
                    "--enable-mutable-globals",
                ])
                .arg(out_dir.join(format!("{app}_bg.wasm")))
                .arg("-o")
                .arg(&optimised),
        )?;
        let raw = std::fs::metadata(&optimised)
            .map_err(|err| format!("{}: {err}", optimised.display()))?
            .len();
        let gzip = Command::new("gzip")
            .args(["-9", "-c"])
            .arg(&optimised)
            .output()
            .map_err(|err| format!("gzip: could not start: {err}"))?;
        if !gzip.status.success() {
            return Err(format!("gzip {}: failed", optimised.display()));
        }
        sizes.push((app, raw, gzip.stdout.len() as u64));
    }
    let kb = |bytes: u64| bytes as f64 / 1024.0;
    println!("\nsize benchmark (wasm after wasm-opt -Oz; KB = 1024 bytes)");
    for (app, raw, gzip) in &sizes {
        println!(
            "  {app:<18} {:>7.1} KB raw {:>7.1} KB gzip",
            kb(*raw),
            kb(*gzip)
        );
    }
    let (_, base_raw, base_gzip) = sizes[0];
    let (_, lib_raw, lib_gzip) = sizes[1];
    let added = lib_gzip.saturating_sub(base_gzip);
    println!(
        "  the library adds   {:>7.1} KB raw {:>7.1} KB gzip (budget {:.0} KB gzip: {})",
        kb(lib_raw.saturating_sub(base_raw)),
        kb(added),
        kb(SIZE_BUDGET),
        if added <= SIZE_BUDGET {
            "within"
        } else {
            "over"
        }
    );
    Ok(())
}

/// `npm ci` in `dir`: the packages its lockfile pins, quietly.
fn npm_ci(dir: &Path) -> Command {
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund"]).current_dir(dir);
    npm
}

fn e2e() -> Result {
    run(
        "build the demo server",
        cargo().args(["build", "-p", "demo-server"]),
    )?;
    let e2e_dir = root().join("tests/e2e");
    run(
        "npm ci (Playwright, no browser download: Debian's Chromium is used)",
        npm_ci(&e2e_dir).env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"),
    )?;
    run(
        "end-to-end tests (Playwright: demo app + demo server)",
        Command::new("npx")
            .args(["playwright", "test"])
            .current_dir(&e2e_dir)
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"),
    )?;
    build_ssr_example()?;
    run(
        "end-to-end tests (Playwright: the server-rendered example)",
        Command::new("npx")
            .args(["playwright", "test", "-c", "ssr.config.ts"])
            .current_dir(&e2e_dir)
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"),
    )
}

/// Where the server-rendered example's browser half goes (`pkg/` under it), as cargo-leptos
/// would put it.
const SSR_SITE: &str = "target/ssr-site";

/// The name of the example's wasm and JavaScript files (the crate's name), which the page
/// asks for.
const SSR_OUTPUT_NAME: &str = "ssr_example";

/// Builds both halves of the server-rendered example without cargo-leptos: the wasm library
/// (`hydrate`) through wasm-bindgen into `target/ssr-site/pkg`, and the server (`ssr`).
fn build_ssr_example() -> Result {
    run(
        "build the ssr example's browser half (wasm32, hydrate)",
        cargo()
            .args(["build", "-p", "ssr-example", "--lib", "--target", WASM])
            .args(["--features", "hydrate"]),
    )?;
    run(
        "wasm-bindgen the browser half into target/ssr-site/pkg",
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript"])
            .args(["--out-name", SSR_OUTPUT_NAME, "--out-dir"])
            .arg(root().join(SSR_SITE).join("pkg"))
            .arg(root().join(format!("target/{WASM}/debug/{SSR_OUTPUT_NAME}.wasm"))),
    )?;
    run(
        "build the ssr example's server half (ssr)",
        // Set at compile time, it would change the wasm file name the page asks for.
        cargo()
            .args(["build", "-p", "ssr-example", "--features", "ssr"])
            .env_remove("LEPTOS_OUTPUT_NAME"),
    )
}

/// Builds and runs the server-rendered example.
fn ssr() -> Result {
    setup()?;
    build_ssr_example()?;
    println!(
        "\n==> server-rendered example: http://127.0.0.1:3000  (accounts: ada / lovelace, \
         bob / builder)\n    Ctrl-C stops it\n"
    );
    let status = Command::new(root().join("target/debug/ssr-example"))
        .current_dir(root())
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:3000")
        .env("LEPTOS_SITE_ROOT", SSR_SITE)
        .env("LEPTOS_SITE_PKG_DIR", "pkg")
        .env("LEPTOS_OUTPUT_NAME", SSR_OUTPUT_NAME)
        .status()
        .map_err(|err| format!("starting the ssr example: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the ssr example ended: {status}"))
    }
}

fn demo() -> Result {
    setup()?;
    run(
        "build the demo server",
        cargo().args(["build", "-p", "demo-server"]),
    )?;
    let mut server = Command::new(root().join("target/debug/demo-server"))
        .args(["--port", "9000"])
        .spawn()
        .map_err(|err| format!("starting the demo server: {err}"))?;
    println!(
        "\n==> demo: http://127.0.0.1:8080  (accounts: ada / lovelace, admin; bob / builder)\n    \
         the first build takes a few minutes; Ctrl-C stops both servers\n"
    );
    let served = Command::new("trunk")
        .args(["serve", "index.html"])
        .current_dir(root())
        .status();
    let _ = server.kill();
    let _ = server.wait();
    match served {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("trunk serve ended: {status}")),
        Err(err) => Err(format!("starting trunk: {err}")),
    }
}

fn chromedriver() -> String {
    env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into())
}

/// Installs what the checks need, skipping what is already there at the right version.
fn setup() -> Result {
    println!("==> checking tools");
    let installed = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if !installed.lines().any(|line| line.trim() == WASM) {
        run(
            "add wasm32 target",
            Command::new("rustup").args(["target", "add", WASM]),
        )?;
    }
    let components = output("rustup", &["component", "list", "--installed"]).unwrap_or_default();
    for component in ["rustfmt", "clippy"] {
        if !components.lines().any(|line| line.starts_with(component)) {
            run(
                &format!("add {component}"),
                Command::new("rustup").args(["component", "add", component]),
            )?;
        }
    }
    if !Path::new("/usr/bin/chromium").exists() || !Path::new(&chromedriver()).exists() {
        apt_install(&["chromium", "chromium-driver"])?;
    }
    let wanted = lockfile_version("wasm-bindgen")?;
    let have = output("wasm-bindgen", &["--version"]).unwrap_or_default();
    if have.split_whitespace().nth(1) != Some(wanted.as_str())
        || output("wasm-bindgen-test-runner", &["--version"]).is_none()
    {
        // Without --locked: wasm-bindgen-cli's own lockfile pins crates this registry lacks.
        run(
            &format!("install wasm-bindgen-cli {wanted}"),
            cargo().args(["install", "wasm-bindgen-cli", "--version", &wanted]),
        )?;
    }
    let trunk = output("trunk", &["--version"]).unwrap_or_default();
    if trunk.split_whitespace().nth(1) != Some(TRUNK_VERSION) {
        run(
            &format!("install trunk {TRUNK_VERSION} (about 10 minutes, once)"),
            cargo().args(["install", "trunk", "--version", TRUNK_VERSION, "--locked"]),
        )?;
    }
    if output("npm", &["--version"]).is_none() {
        apt_install(&["nodejs", "npm"])?;
    }
    Ok(())
}

fn apt_install(packages: &[&str]) -> Result {
    // As root (CI, these machines) apt-get runs directly; otherwise through sudo.
    let as_root = output("id", &["-u"]).is_some_and(|id| id.trim() == "0");
    let apt = |args: &[&str]| {
        let mut command = Command::new(if as_root { "apt-get" } else { "sudo" });
        if !as_root {
            command.arg("apt-get");
        }
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    run("apt-get update", &mut apt(&["update"]))?;
    let mut install = apt(&["install", "-y"]);
    install.args(packages);
    run(
        &format!("apt-get install {}", packages.join(" ")),
        &mut install,
    )
}

/// The version of `package` in Cargo.lock.
fn lockfile_version(package: &str) -> std::result::Result<String, String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|err| format!("reading Cargo.lock: {err}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{package}\"") {
            if let Some(version) = lines.next().and_then(|l| l.strip_prefix("version = \"")) {
                return Ok(version.trim_end_matches('"').to_owned());
            }
        }
    }
    Err(format!("{package} is not in Cargo.lock"))
}
