//! The real `vinofy` binary, run as an operator runs it: only the environment given (and `PATH`),
//! its AWS calls through the IAM recorder (principal `vinofy`).

use serde_json::Value;

/// What a run printed, and its exit code.
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    /// Every stdout line as JSON (`--json` output); a line that is not JSON fails the test.
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}\n{self:?}")))
            .collect()
    }

    /// The JSON lines whose `type` is `kind`.
    pub fn lines_of_type(&self, kind: &str) -> Vec<Value> {
        self.json_lines().into_iter().filter(|l| l["type"] == kind).collect()
    }

    /// The `{"type": "summary"}` line.
    pub fn summary(&self) -> Value {
        self.lines_of_type("summary").pop().unwrap_or_else(|| panic!("no summary line: {self:?}"))
    }
}

impl std::fmt::Debug for CliRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs `binary` (the test's `env!("CARGO_BIN_EXE_vinofy")`) with `env` and `args`.
pub async fn run_vinofy(binary: &str, env: impl IntoIterator<Item = (String, String)>, args: &[&str]) -> CliRun {
    let out = tokio::process::Command::new(binary)
        .env_clear()
        .envs(super::iam_recorder::recorded("vinofy", env))
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(args)
        .output()
        .await
        .expect("run vinofy");
    CliRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
