//! A small flag parser shared by `serve`, `kubeadm` and `k3s` (`--f v`, `--f=v`, booleans).

use anyhow::{Result, bail};

pub struct Args {
    pub flags: Vec<(String, Option<String>)>,
    pub positional: Vec<String>,
}

impl Args {
    /// `boolean` lists the flags that take no value.
    pub fn parse(argv: &[String], boolean: &[&str]) -> Result<Args> {
        let mut flags = Vec::new();
        let mut positional = Vec::new();
        let mut i = 0;
        while i < argv.len() {
            let a = &argv[i];
            if let Some(f) = a
                .strip_prefix("--")
                .or_else(|| a.strip_prefix('-').filter(|f| f.len() == 1))
            {
                if f.is_empty() {
                    positional.extend(argv[i + 1..].iter().cloned());
                    break;
                }
                if let Some((k, v)) = f.split_once('=') {
                    flags.push((k.to_string(), Some(v.to_string())));
                } else if boolean.contains(&f) {
                    flags.push((f.to_string(), None));
                } else {
                    let Some(v) = argv.get(i + 1) else {
                        bail!("flag needs an argument: --{f}")
                    };
                    flags.push((f.to_string(), Some(v.clone())));
                    i += 1;
                }
            } else {
                positional.push(a.clone());
            }
            i += 1;
        }
        Ok(Args { flags, positional })
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(f, _)| f == k)
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn has(&self, k: &str) -> bool {
        self.flags
            .iter()
            .any(|(f, v)| f == k && v.as_deref() != Some("false"))
    }

    pub fn all(&self, k: &str) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|(f, _)| f == k)
            .filter_map(|(_, v)| v.as_deref())
            .collect()
    }

    /// Fail on flags not in `known` (like cobra's "unknown flag").
    pub fn check_known(&self, known: &[&str]) -> Result<()> {
        for (f, _) in &self.flags {
            if !known.contains(&f.as_str()) {
                bail!("unknown flag: --{f}");
            }
        }
        Ok(())
    }
}
