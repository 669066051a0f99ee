//! The command line: a small hand-written parser (`--flag value` or `--flag=value`).

use std::path::PathBuf;
use std::time::Duration;

use oxray_core::config::DaemonAddress;
use oxray_core::id::TraceId;

use crate::collect::CollectOptions;
use crate::filter::Filter;
use crate::forward;
use crate::show::ShowOptions;
use crate::waterfall::Style;

/// A parsed command line.
#[derive(Debug)]
pub enum Command {
    Collect(CollectOptions),
    Show {
        file: PathBuf,
        options: ShowOptions,
    },
    Map {
        file: PathBuf,
        filter: Option<Filter>,
        json: bool,
    },
    Help(&'static str),
    Version,
}

pub const USAGE: &str = "oxray: a local AWS X-Ray collector and trace viewer

usage:
  oxray collect [options]            listen for X-Ray datagrams, print each trace as a waterfall
  oxray show FILE [options]          print the traces recorded in FILE (- for standard input)
  oxray map FILE [options]           print the service graph of the traces in FILE
  oxray help [collect|show|map]      more about one command
  oxray --version
";

pub const COLLECT_HELP: &str = "oxray collect: a daemon-compatible UDP listener (same frame check as the X-Ray daemon).
Every datagram is appended to the JSONL file as it arrives, valid or not. Documents the X-Ray
service would refuse are reported with the reason; what stricter receivers refuse is shown as a
warning under the trace. A trace prints once no document arrived for it during the idle time.

options:
  --listen ADDR          udp address to listen on (default: the udp part of
                         AWS_XRAY_DAEMON_ADDRESS, else 127.0.0.1:2000; a bare port means 127.0.0.1)
  --out FILE             JSONL file to append to (default traces.jsonl)
  --idle SECS            idle time after which a trace is complete (default 1)
  --max-traces N         open traces kept at most; the least recently active is evicted (default 10000)
  --max-open-mb N        megabytes of open documents kept at most (default 256)
  --forward HOST:PORT    send every valid datagram on, unchanged (repeatable)
  --quiet                print no waterfalls, only reports and the final counters
  --exit-when-idle SECS  stop once nothing arrived for SECS
  --reports N            invalid-datagram reports printed per second at most (default 20)
  --color auto|always|never, --ascii, --width N (time bar columns, default 30)
";

pub const SHOW_HELP: &str =
    "oxray show FILE: the waterfalls of the traces in FILE (a JSONL file written by oxray
collect, or one segment document per line).

options:
  --trace ID             only this trace
  --filter EXPR          only traces matching an X-Ray filter expression, e.g.
                         'service(\"payment\") AND (fault OR duration > 2)'
                         keywords: error fault throttle ok duration responsetime http.status
                         http.url http.method http.useragent http.clientip user annotation.KEY
                         service(\"name\"); operators = != < <= > >= CONTAINS BEGINSWITH ENDSWITH;
                         AND OR NOT ! and parentheses
  --invalid              also list the invalid records and unreadable lines
  --color auto|always|never, --ascii, --width N
";

pub const MAP_HELP: &str =
    "oxray map FILE: the service graph of the traces in FILE: each node with its request count,
error/fault/throttle rates and p50/p90/p99 latency, and the edges between nodes.

options:
  --filter EXPR          only traces matching the expression (see oxray help show)
  --json                 print JSON instead of tables
";

struct Args<'a> {
    items: &'a [String],
    next: usize,
}

impl<'a> Args<'a> {
    /// The next flag or positional argument, split at `=` for `--flag=value`.
    fn next(&mut self) -> Option<(String, Option<String>)> {
        let item = self.items.get(self.next)?;
        self.next += 1;
        match item.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                Some((flag.to_string(), Some(value.to_string())))
            }
            _ => Some((item.clone(), None)),
        }
    }

    fn value(&mut self, flag: &str, inline: Option<String>) -> Result<String, String> {
        if let Some(v) = inline {
            return Ok(v);
        }
        let v = self
            .items
            .get(self.next)
            .ok_or_else(|| format!("{flag} needs a value"))?;
        self.next += 1;
        Ok(v.clone())
    }
}

fn seconds(flag: &str, text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{flag} wants seconds, got {text:?}"))?;
    if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0) {
        return Err(format!(
            "{flag} wants seconds between 0 and 86400, got {text}"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn count(flag: &str, text: &str, max: usize) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{flag} wants a whole number from 1 to {max}, got {text:?}"
        )),
    }
}

fn listen_address(text: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(([127, 0, 0, 1], port).into());
    }
    forward::resolve(text).map_err(|e| format!("--listen {text}: {e}"))
}

/// Style flags shared by collect and show; returns true if `flag` was one of them.
fn style_flag(
    flag: &str,
    inline: Option<String>,
    args: &mut Args<'_>,
    style: &mut Style,
    color_auto: bool,
) -> Result<bool, String> {
    match flag {
        "--ascii" => style.ascii = true,
        "--width" => {
            let v = args.value(flag, inline)?;
            style.bar_width = count(flag, &v, 200)?;
        }
        "--color" | "--colour" => {
            style.color = match args.value(flag, inline)?.as_str() {
                "auto" => color_auto,
                "always" => true,
                "never" => false,
                other => {
                    return Err(format!(
                        "--color wants auto, always or never, got {other:?}"
                    ))
                }
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn filter(text: &str) -> Result<Filter, String> {
    Filter::parse(text).map_err(|e| e.render(text))
}

/// Parses the arguments after the program name. `color_auto` is what `--color auto` (the
/// default) means here: standard output is a terminal and `NO_COLOR` is unset.
/// `daemon_env` is `AWS_XRAY_DAEMON_ADDRESS`, if set.
pub fn parse(
    items: &[String],
    color_auto: bool,
    daemon_env: Option<&str>,
) -> Result<Command, String> {
    let Some(command) = items.first() else {
        return Ok(Command::Help(USAGE));
    };
    let mut args = Args { items, next: 1 };
    let mut style = Style {
        color: color_auto,
        ..Style::default()
    };
    match command.as_str() {
        "-h" | "--help" => Ok(Command::Help(USAGE)),
        "help" => Ok(Command::Help(match items.get(1).map(String::as_str) {
            Some("collect") => COLLECT_HELP,
            Some("show") => SHOW_HELP,
            Some("map") => MAP_HELP,
            _ => USAGE,
        })),
        "-V" | "--version" | "version" => Ok(Command::Version),
        "collect" => {
            let mut o = CollectOptions {
                style,
                ..CollectOptions::default()
            };
            if let Some(env) = daemon_env.filter(|e| !e.trim().is_empty()) {
                o.listen = DaemonAddress::parse(env)
                    .map_err(|e| format!("AWS_XRAY_DAEMON_ADDRESS: {e}; use --listen"))?
                    .udp;
            }
            while let Some((flag, inline)) = args.next() {
                if style_flag(&flag, inline.clone(), &mut args, &mut o.style, color_auto)? {
                    continue;
                }
                match flag.as_str() {
                    "-h" | "--help" => return Ok(Command::Help(COLLECT_HELP)),
                    "--listen" => o.listen = listen_address(&args.value(&flag, inline)?)?,
                    "--out" => o.out = PathBuf::from(args.value(&flag, inline)?),
                    "--idle" => o.limits.idle = seconds(&flag, &args.value(&flag, inline)?)?,
                    "--max-traces" => {
                        o.limits.max_traces = count(&flag, &args.value(&flag, inline)?, 10_000_000)?
                    }
                    "--max-open-mb" => {
                        o.limits.max_bytes =
                            count(&flag, &args.value(&flag, inline)?, 1_000_000)? * 1024 * 1024
                    }
                    "--forward" => {
                        let target = args.value(&flag, inline)?;
                        o.forward.push(
                            forward::resolve(&target)
                                .map_err(|e| format!("--forward {target}: {e}"))?,
                        );
                    }
                    "--quiet" | "-q" => o.quiet = true,
                    "--exit-when-idle" => {
                        o.exit_when_idle = Some(seconds(&flag, &args.value(&flag, inline)?)?)
                    }
                    "--reports" => {
                        let v = args.value(&flag, inline)?;
                        o.reports_per_second = v
                            .parse()
                            .map_err(|_| format!("--reports wants a whole number, got {v:?}"))?;
                    }
                    other => {
                        return Err(format!(
                            "oxray collect: unknown option {other:?} (see oxray help collect)"
                        ))
                    }
                }
            }
            Ok(Command::Collect(o))
        }
        "show" | "map" => {
            let is_show = command == "show";
            let mut file = None;
            let mut trace = None;
            let mut expr = None;
            let mut list_invalid = false;
            let mut json = false;
            while let Some((flag, inline)) = args.next() {
                if is_show && style_flag(&flag, inline.clone(), &mut args, &mut style, color_auto)?
                {
                    continue;
                }
                match flag.as_str() {
                    "-h" | "--help" => {
                        return Ok(Command::Help(if is_show { SHOW_HELP } else { MAP_HELP }))
                    }
                    "--filter" => expr = Some(filter(&args.value(&flag, inline)?)?),
                    "--trace" if is_show => {
                        let text = args.value(&flag, inline)?;
                        trace =
                            Some(TraceId::parse(text.trim()).map_err(|e| {
                                format!("--trace {text:?} is not a trace id ({e})")
                            })?);
                    }
                    "--invalid" if is_show => list_invalid = true,
                    "--json" if !is_show => json = true,
                    f if f.starts_with("--") && f.len() > 2 => {
                        return Err(format!(
                            "oxray {command}: unknown option {f:?} (see oxray help {command})"
                        ))
                    }
                    _ if file.is_none() => file = Some(PathBuf::from(flag)),
                    extra => {
                        return Err(format!(
                            "oxray {command}: one file only, got another: {extra:?}"
                        ))
                    }
                }
            }
            let file = file.ok_or_else(|| {
                format!("oxray {command}: which file? (oxray {command} traces.jsonl)")
            })?;
            Ok(if is_show {
                Command::Show {
                    file,
                    options: ShowOptions {
                        trace,
                        filter: expr,
                        style,
                        list_invalid,
                    },
                }
            } else {
                Command::Map {
                    file,
                    filter: expr,
                    json,
                }
            })
        }
        other => Err(format!("oxray: unknown command {other:?}\n\n{USAGE}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(line: &str) -> Command {
        let items: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&items, false, None).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn parse_err(line: &str) -> String {
        let items: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&items, false, None).map(|_| ()).expect_err(line)
    }

    #[test]
    fn collect_options() {
        let Command::Collect(o) = parse_ok(
            "collect --listen 127.0.0.1:0 --out=/x/t.jsonl --idle 0.5 --max-traces 3 --max-open-mb 2 --forward 127.0.0.1:2001 --forward=127.0.0.1:2002 --quiet --exit-when-idle 2 --color always --width 40 --ascii",
        ) else {
            panic!()
        };
        assert_eq!(o.listen.to_string(), "127.0.0.1:0");
        assert_eq!(o.out, PathBuf::from("/x/t.jsonl"));
        assert_eq!(o.limits.idle, Duration::from_millis(500));
        assert_eq!(
            (o.limits.max_traces, o.limits.max_bytes),
            (3, 2 * 1024 * 1024)
        );
        assert_eq!(o.forward.len(), 2);
        assert!(o.quiet && o.style.color && o.style.ascii);
        assert_eq!(o.style.bar_width, 40);
        assert_eq!(o.exit_when_idle, Some(Duration::from_secs(2)));
        let Command::Collect(o) = parse_ok("collect --listen 2999") else {
            panic!()
        };
        assert_eq!(o.listen.to_string(), "127.0.0.1:2999");
        let items = vec!["collect".to_string()];
        let Ok(Command::Collect(o)) =
            parse(&items, true, Some("tcp:127.0.0.1:3000 udp:127.0.0.1:3001"))
        else {
            panic!()
        };
        assert_eq!(o.listen.to_string(), "127.0.0.1:3001");
        assert!(o.style.color);
        assert!(parse(&items, false, Some("nonsense"))
            .unwrap_err()
            .contains("AWS_XRAY_DAEMON_ADDRESS"));
    }

    #[test]
    fn show_and_map_options() {
        let Command::Show { file, options } = parse_ok(
            "show t.jsonl --trace 1-5759e988-bd862e3fe1be46a994272793 --filter fault --invalid",
        ) else {
            panic!()
        };
        assert_eq!(file, PathBuf::from("t.jsonl"));
        assert!(options.trace.is_some() && options.filter.is_some() && options.list_invalid);
        let Command::Map { json, .. } = parse_ok("map t.jsonl --json") else {
            panic!()
        };
        assert!(json);
    }

    #[test]
    fn mistakes_get_a_clear_message() {
        for (line, expected) in [
            ("frobnicate", "unknown command \"frobnicate\""),
            ("collect --idle", "--idle needs a value"),
            ("collect --idle -1", "between 0 and 86400"),
            ("collect --idle soon", "wants seconds"),
            ("collect --max-traces 0", "from 1 to"),
            ("collect --listen nowhere", "--listen nowhere"),
            ("collect --forward 127.0.0.1", "--forward 127.0.0.1"),
            ("collect --colour purple", "auto, always or never"),
            ("collect --verbose", "unknown option \"--verbose\""),
            ("show", "which file?"),
            ("show a b", "one file only"),
            ("show a --trace 1-x", "is not a trace id"),
            ("show a --filter duration>", "invalid filter at column 10"),
            ("map a --invalid", "unknown option \"--invalid\""),
            ("show a --json", "unknown option \"--json\""),
        ] {
            let e = parse_err(line);
            assert!(e.contains(expected), "{line}: {e}");
        }
        assert!(matches!(parse_ok("help show"), Command::Help(h) if h == SHOW_HELP));
        assert!(matches!(parse_ok("--version"), Command::Version));
        assert!(matches!(parse(&[], false, None), Ok(Command::Help(_))));
    }
}
