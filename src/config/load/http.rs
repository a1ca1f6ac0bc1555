//! The keys of zabd's two HTTP servers: ZooKeeper's AdminServer (`admin.*`) and its Prometheus
//! metrics provider (`metricsProvider.*`).
//!
//! Kept apart from the quorum keys because they follow another rule: a port that cannot be
//! bound is only a warning at run time (monitoring must never keep a server from serving), so
//! validation here catches what is certainly wrong — a malformed value, or a port this server
//! already uses for its client or quorum traffic.

use super::{ConfigError, Raw};
use crate::config::{AdminConfig, MetricsConfig, ServerSpec};
use std::net::IpAddr;

/// Keys read here (for `KNOWN_KEYS`).
pub(super) const KEYS: &[&str] = &[
    "admin.enableServer",
    "admin.serverAddress",
    "admin.serverPort",
    "admin.commandURL",
    "metricsProvider.className",
    "metricsProvider.httpHost",
    "metricsProvider.httpPort",
    "metricsProvider.exportJvmInfo",
];

impl Raw<'_> {
    /// `admin.*`, with ZooKeeper's defaults except `admin.enableServer` (false in zabd).
    pub(super) fn admin(&mut self) -> Result<AdminConfig, ConfigError> {
        let defaults = AdminConfig::default();
        let enabled = self.bool("admin.enableServer")?.unwrap_or(defaults.enabled);
        let address = self
            .address("admin.serverAddress")?
            .unwrap_or(defaults.address);
        let port = self.port("admin.serverPort")?.unwrap_or(defaults.port);
        let command_url = match self.string("admin.commandURL", "/commands")? {
            Some(url) => normalize_url(&url).map_err(|m| {
                self.err(
                    "admin.commandURL",
                    format!(
                        "{m}; give a path such as {}",
                        self.example("admin.commandURL", "/commands", true)
                    ),
                )
            })?,
            None => defaults.command_url,
        };
        Ok(AdminConfig {
            enabled,
            address,
            port,
            command_url,
        })
    }

    /// `metricsProvider.*`: `Some` only when `metricsProvider.httpPort` is set.
    pub(super) fn metrics(&mut self) -> Result<Option<MetricsConfig>, ConfigError> {
        // ZooKeeper names its provider class; zabd has one provider, so any name is accepted.
        let class = self.string(
            "metricsProvider.className",
            "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider",
        )?;
        // A JVM-only switch; accepted so that a ZooKeeper zoo.cfg loads unchanged.
        let _ = self.bool("metricsProvider.exportJvmInfo")?;
        let host = self.address("metricsProvider.httpHost")?;
        let port = self.port("metricsProvider.httpPort")?;
        match port {
            Some(port) => Ok(Some(MetricsConfig {
                host: host.unwrap_or(IpAddr::from([0, 0, 0, 0])),
                port,
            })),
            None => {
                if class.is_some() || host.is_some() {
                    tracing::warn!(
                        file = %self.path.display(),
                        "metricsProvider settings without metricsProvider.httpPort: zabd serves \
                         Prometheus metrics only when httpPort is set"
                    );
                }
                Ok(None)
            }
        }
    }

    /// An IP address, or a host name that resolves to one.
    fn address(&mut self, key: &str) -> Result<Option<IpAddr>, ConfigError> {
        let Some(s) = self.string(key, "0.0.0.0")? else {
            return Ok(None);
        };
        self.resolve(&s, 0).map(Some).ok_or_else(|| {
            self.err(
                key,
                format!(
                    "\"{s}\" is not an IP address (nor a host name that resolves); give one such \
                     as 0.0.0.0 (every interface) or 127.0.0.1"
                ),
            )
        })
    }

    /// The HTTP ports must not be ports this server already listens on for other traffic
    /// (that bind would fail at start-up, or worse, succeed on another address).
    pub(super) fn check_http_ports(
        &self,
        admin: &AdminConfig,
        metrics: Option<&MetricsConfig>,
        client_port: u16,
        me: Option<&ServerSpec>,
    ) -> Result<(), ConfigError> {
        let mut taken: Vec<(u16, String)> = vec![(client_port, "the client port".to_string())];
        if let Some(me) = me {
            taken.push((
                me.quorum_port,
                format!("this server's quorum port (server.{})", me.id),
            ));
            taken.push((
                me.election_port,
                format!("this server's election port (server.{})", me.id),
            ));
        }
        let mut wanted: Vec<(&str, u16, &str)> = Vec::new();
        if admin.enabled {
            wanted.push(("admin.serverPort", admin.port, "the admin server"));
        }
        if let Some(m) = metrics {
            wanted.push(("metricsProvider.httpPort", m.port, "the metrics server"));
        }
        for (key, port, what) in wanted {
            if port == 0 {
                continue; // any free port: cannot clash
            }
            if let Some((_, other)) = taken.iter().find(|(p, _)| *p == port) {
                return Err(self.err(
                    key,
                    format!("{port} is also {other}; give {what} its own port"),
                ));
            }
            taken.push((port, key.to_string()));
        }
        Ok(())
    }
}

/// `/commands`, `/commands/` and `commands` all become `/commands`; `/` becomes "".
fn normalize_url(url: &str) -> Result<String, String> {
    if let Some(bad) = url
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '%'))
    {
        return Err(format!(
            "\"{url}\" contains {bad:?}, which a URL path here cannot"
        ));
    }
    let trimmed = url.trim_matches('/');
    if trimmed
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        && !trimmed.is_empty()
    {
        return Err(format!("\"{url}\" has an empty, . or .. segment"));
    }
    Ok(if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    })
}

#[cfg(test)]
mod tests {
    use super::super::load;
    use super::*;
    use std::path::{Path, PathBuf};

    /// A standalone zoo.cfg (clientPort 2181) plus `extra` from line 4.
    fn write(dir: &Path, extra: &str) -> PathBuf {
        let path = dir.join("zoo.cfg");
        let text = format!(
            "tickTime=2000\ndataDir={}\nclientPort=2181\n{extra}",
            dir.join("data").display()
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    #[track_caller]
    fn error(extra: &str, key: &str, line: usize, needle: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), extra);
        let err = load(&path).expect_err("an error");
        let msg = err.to_string();
        assert_eq!(err.key(), Some(key), "{msg}");
        assert_eq!(err.line(), Some(line), "{msg}");
        assert!(
            msg.starts_with(&format!("{}:{line}: {key}: ", path.display())),
            "{msg}"
        );
        assert!(msg.contains(needle), "{msg}");
    }

    #[test]
    fn defaults_leave_both_servers_off() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = load(&write(dir.path(), "")).unwrap();
        assert_eq!(cfg.admin, AdminConfig::default());
        assert!(!cfg.admin.enabled);
        assert_eq!(cfg.admin.port, 8080);
        assert_eq!(cfg.admin.command_url, "/commands");
        assert_eq!(cfg.admin.address, IpAddr::from([0, 0, 0, 0]));
        assert_eq!(cfg.metrics, None);
    }

    #[test]
    fn zookeeper_keys_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = load(&write(
            dir.path(),
            "admin.enableServer=true\nadmin.serverAddress=127.0.0.1\nadmin.serverPort=9090\n\
             admin.commandURL=/zk/cmds/\n\
             metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
             metricsProvider.httpPort=7000\nmetricsProvider.httpHost=127.0.0.2\n\
             metricsProvider.exportJvmInfo=false\n",
        ))
        .unwrap();
        assert_eq!(
            cfg.admin,
            AdminConfig {
                enabled: true,
                address: IpAddr::from([127, 0, 0, 1]),
                port: 9090,
                command_url: "/zk/cmds".to_string(),
            }
        );
        assert_eq!(
            cfg.metrics,
            Some(MetricsConfig {
                host: IpAddr::from([127, 0, 0, 2]),
                port: 7000
            })
        );
    }

    #[test]
    fn metrics_need_a_port_and_default_to_every_interface() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = load(&write(
            dir.path(),
            "metricsProvider.className=anything\nmetricsProvider.httpHost=127.0.0.1\n",
        ))
        .unwrap();
        assert_eq!(cfg.metrics, None);
        let cfg = load(&write(dir.path(), "metricsProvider.httpPort=0\n")).unwrap();
        assert_eq!(
            cfg.metrics,
            Some(MetricsConfig {
                host: IpAddr::from([0, 0, 0, 0]),
                port: 0
            })
        );
    }

    #[test]
    fn toml_reads_the_same_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zoo.toml");
        std::fs::write(
            &path,
            format!(
                "tickTime = 2000\ndataDir = \"{}\"\n\"admin.enableServer\" = true\n\
                 \"admin.serverPort\" = 0\n[metricsProvider]\nhttpPort = 7001\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let cfg = load(&path).unwrap();
        assert!(cfg.admin.enabled);
        assert_eq!(cfg.admin.port, 0);
        assert_eq!(cfg.metrics.map(|m| m.port), Some(7001));
    }

    #[test]
    fn command_url_slash_serves_at_the_root() {
        assert_eq!(normalize_url("/").unwrap(), "");
        assert_eq!(normalize_url("commands").unwrap(), "/commands");
        assert_eq!(normalize_url("/a/b//").unwrap(), "/a/b");
        assert!(normalize_url("/a//b").is_err());
        assert!(normalize_url("/a/../b").is_err());
    }

    #[test]
    fn bad_values_name_the_key_and_the_line() {
        error(
            "admin.enableServer=yes\n",
            "admin.enableServer",
            4,
            "neither true nor false",
        );
        error(
            "admin.serverPort=70000\n",
            "admin.serverPort",
            4,
            "ports are 0-65535",
        );
        error(
            "admin.serverPort=http\n",
            "admin.serverPort",
            4,
            "ports are 0-65535",
        );
        error(
            "admin.serverAddress=not an address\n",
            "admin.serverAddress",
            4,
            "is not an IP address",
        );
        error(
            "admin.commandURL=/a b\n",
            "admin.commandURL",
            4,
            "give a path such as",
        );
        error(
            "metricsProvider.httpPort=-1\n",
            "metricsProvider.httpPort",
            4,
            "ports are",
        );
        error(
            "metricsProvider.httpPort=7000\nmetricsProvider.httpHost=not a host\n",
            "metricsProvider.httpHost",
            5,
            "is not an IP address",
        );
    }

    #[test]
    fn http_ports_must_not_reuse_this_servers_ports() {
        error(
            "admin.enableServer=true\nadmin.serverPort=2181\n",
            "admin.serverPort",
            5,
            "2181 is also the client port",
        );
        error(
            "admin.enableServer=true\nadmin.serverPort=9000\nmetricsProvider.httpPort=9000\n",
            "metricsProvider.httpPort",
            6,
            "9000 is also admin.serverPort",
        );
        // In an ensemble, the quorum and election ports are taken too.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/myid"), "1").unwrap();
        let path = write(
            dir.path(),
            "initLimit=10\nsyncLimit=5\nserver.1=127.0.0.1:2888:3888\n\
             server.2=127.0.0.1:2889:3889\nserver.3=127.0.0.1:2890:3890\n\
             metricsProvider.httpPort=3888\n",
        );
        let msg = load(&path).expect_err("a clash").to_string();
        assert!(
            msg.contains(
                ":9: metricsProvider.httpPort: 3888 is also this server's election port (server.1)"
            ),
            "{msg}"
        );
        // A disabled admin server takes no port.
        let dir = tempfile::tempdir().unwrap();
        let cfg = load(&write(dir.path(), "admin.serverPort=2181\n")).unwrap();
        assert!(!cfg.admin.enabled);
    }
}
