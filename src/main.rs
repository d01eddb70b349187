//! The command line: parse arguments, call the library, map errors to exit codes.

use anyhow::Context;
use clap::{Parser, Subcommand};
use postbooth::config::Config;
use postbooth::control::{self, Request};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "postbooth",
    version,
    about = "Photo booth daemon: press, shoot, save, post to Instagram exactly once"
)]
struct Cli {
    /// The config file (TOML). Only instagram.user_id is required.
    #[arg(long, global = true, default_value = "/etc/postbooth/config.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the booth (the daemon).
    Run,
    /// Everything simulated in one process: camera, Instagram, display. No account needed.
    Demo(postbooth::demo::DemoArgs),
    /// Take a photo through the running booth; prints the job id once the photo is saved.
    Shoot,
    /// Queue an operator's video as a Reel: an MP4 (H.264/AAC) of 3 to 90 seconds.
    Post {
        /// The MP4 file. It is copied into the store; the original can go afterwards.
        #[arg(long, value_name = "FILE")]
        video: PathBuf,
        /// Caption; default: the configured caption template.
        #[arg(long)]
        caption: Option<String>,
    },
    /// Look at and manage the queue of photos.
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// Check camera, store, disk, clock, token and network, and say what to fix.
    Doctor,
    /// The access token: refresh it now (the booth also does it by itself before it expires).
    Auth {
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// Reach and views today, and likes, comments, saves and reach of the booth's recent posts.
    /// Stops early rather than use the call budget publishing needs.
    Insights {
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Comments on a post: list them, reply, hide or delete.
    Comments {
        #[command(subcommand)]
        command: CommentsCommand,
    },
    /// The web pages: set the operator console's password.
    Web {
        #[command(subcommand)]
        command: WebCommand,
    },
    /// Print the effective config, defaults filled in.
    PrintConfig,
    /// Run the Graph API simulator on its own, to try `run` without an Instagram account.
    Sim(postbooth::sim::cli::SimArgs),
    /// Time the image pipeline against libjpeg-turbo and Pillow (scripts/bench.sh installs them).
    Bench(postbooth::bench::BenchArgs),
}

#[derive(Subcommand)]
enum CommentsCommand {
    /// The comments on a post (MEDIA is a media id from `queue list`).
    List {
        media: String,
        /// One JSON object per comment.
        #[arg(long)]
        json: bool,
    },
    /// Reply to a comment.
    Reply { comment: String, text: String },
    /// Hide a comment from everyone but its author (--unhide shows it again).
    Hide {
        comment: String,
        #[arg(long)]
        unhide: bool,
    },
    /// Delete a comment.
    Delete { comment: String },
}

#[derive(Subcommand)]
enum WebCommand {
    /// Read a password from standard input (one line; at least 8 characters) and write its
    /// argon2 hash to web.admin_password_file, owner-only. The password is never printed.
    SetPassword,
}

#[derive(Subcommand)]
enum AuthCommand {
    /// Get a new 60-day token from Instagram (the token must be at least a day old) and write
    /// it to access_token_file. The token is never printed.
    Refresh,
}

#[derive(Subcommand)]
enum QueueCommand {
    /// List every job, oldest first.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Start failed jobs again from their saved photo.
    Retry {
        id: Option<uuid::Uuid>,
        #[arg(long, conflicts_with = "id")]
        all_failed: bool,
    },
    /// Forget a job and delete its photo.
    Drop { id: uuid::Uuid },
    /// Post a saved photo to Stories as well (a 9:16 copy, its own job). For booths that
    /// choose which photos go to Stories instead of setting instagram.also_story.
    Story { id: uuid::Uuid },
    /// Post a held photo (publish.review = "operator" or "guest").
    Approve { id: uuid::Uuid },
    /// Never post a held photo; it stays on disk.
    Reject { id: uuid::Uuid },
}

fn main() -> ExitCode {
    postbooth::malloc::limit_arenas();
    postbooth::malloc::return_large_blocks();
    let cli = Cli::parse();
    init_logging(matches!(cli.command, Command::Demo(_)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("postbooth: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(demo: bool) {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    // `RUST_LOG` as `level` or `target=level,…`. `Targets` rather than `EnvFilter`: the same
    // syntax for what a booth needs, without the regex engine (about 0.5 MiB of the ARM binary).
    let default = if demo { "postbooth=warn" } else { "info" };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| default.parse().expect("the default log filter parses"));
    // The builder alone stops at INFO; `filter` decides.
    let builder = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(std::io::stderr);
    // Colours only for a person at a terminal: the journal, log files and pipes get plain text.
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal();
    // The journal stamps each line itself (JOURNAL_STREAM is set when stderr goes to it).
    let subscriber: Box<dyn tracing::Subscriber + Send + Sync> =
        if std::env::var_os("JOURNAL_STREAM").is_some() {
            Box::new(
                builder
                    .without_time()
                    .with_ansi(false)
                    .finish()
                    .with(filter),
            )
        } else {
            Box::new(builder.with_ansi(ansi).finish().with(filter))
        };
    // The console's "last log lines" (postbooth's own events, INFO and up).
    let subscriber = subscriber.with(postbooth::web::logbuf::Layer);
    // `try_init` also forwards the `log` records of dependencies (sled, rustls) to tracing.
    use tracing_subscriber::util::SubscriberInitExt;
    subscriber.try_init().expect("logging is set up once");
}

fn load(path: &Path) -> anyhow::Result<Config> {
    Ok(Config::load(path)?)
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run => {
            let config = load(&cli.config)?;
            postbooth::run(config, shutdown_signal()).await?;
        }
        Command::Demo(args) => return postbooth::demo::run(args).await,
        Command::Shoot => {
            let config = load(&cli.config)?;
            let response = ask_daemon(&config, &Request::Shoot).await?;
            let job = response
                .jobs
                .first()
                .context("the daemon answered without a job")?;
            println!("{}", job.id);
        }
        Command::Queue { command } => queue(&cli.config, command).await?,
        Command::Post { video, caption } => {
            let config = load(&cli.config)?;
            // The daemon may run as another user with another working directory.
            let path = std::fs::canonicalize(&video)
                .with_context(|| format!("cannot read {}", video.display()))?;
            let request = Request::PostVideo { path, caption };
            let response = postbooth::queue_ops::ask(&config, request).await?;
            if let Some(error) = response.error {
                anyhow::bail!("{error}");
            }
            let job = response
                .jobs
                .first()
                .context("the booth answered without a job")?;
            println!("{}", job.id);
        }
        Command::Auth {
            command: AuthCommand::Refresh,
        } => auth_refresh(&cli.config).await?,
        Command::Insights { json } => insights(&cli.config, json).await?,
        Command::Comments { command } => comments(&cli.config, command).await?,
        Command::Doctor => return Ok(postbooth::doctor::run(&cli.config).await),
        Command::PrintConfig => {
            let config = if cli.config.exists() {
                Config::parse(
                    &std::fs::read_to_string(&cli.config)
                        .with_context(|| format!("cannot read {}", cli.config.display()))?,
                    &cli.config,
                )?
            } else {
                eprintln!(
                    "# {} does not exist: showing the defaults",
                    cli.config.display()
                );
                Config::default()
            };
            print!("{}", config.to_toml());
        }
        Command::Web {
            command: WebCommand::SetPassword,
        } => {
            let config = load(&cli.config)?;
            use std::io::IsTerminal;
            if std::io::stdin().is_terminal() {
                eprint!("new console password (shown as you type; at least 8 characters): ");
            }
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
            let password = line.trim_end_matches(['\n', '\r']);
            let path = &config.web.admin_password_file;
            postbooth::web::admin::set_password(path, password)?;
            println!(
                "password hash written to {} (mode 600); restart the booth to use it",
                path.display()
            );
        }
        Command::Sim(args) => postbooth::sim::cli::run(args).await?,
        // CPU-bound and timed: off the async runtime's threads.
        Command::Bench(args) => tokio::task::spawn_blocking(move || postbooth::bench::run(args))
            .await
            .context("the benchmark panicked")??,
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends a request to the running daemon; says plainly when there is none.
async fn ask_daemon(config: &Config, request: &Request) -> anyhow::Result<control::Response> {
    let socket = postbooth::store::control_socket_path(&config.store.dir);
    let response = control::call(&socket, request)
        .await
        .with_context(|| format!("cannot talk to the booth at {}", socket.display()))?
        .with_context(|| {
            format!(
                "the booth is not running (no answer at {}): start it with `systemctl start postbooth` or `postbooth run`",
                socket.display()
            )
        })?;
    if let Some(error) = &response.error {
        anyhow::bail!("{error}");
    }
    Ok(response)
}

async fn queue(config_path: &Path, command: QueueCommand) -> anyhow::Result<()> {
    let config = load(config_path)?;
    let request = match &command {
        QueueCommand::List { .. } => Request::List,
        QueueCommand::Retry { id, all_failed } => Request::Retry {
            id: *id,
            all_failed: *all_failed,
        },
        QueueCommand::Drop { id } => Request::Drop { id: *id },
        QueueCommand::Story { id } => Request::Story { id: *id },
        QueueCommand::Approve { id } => Request::Approve { id: *id },
        QueueCommand::Reject { id } => Request::Reject { id: *id },
    };
    // A running daemon owns the queue; otherwise open it directly.
    let response = postbooth::queue_ops::ask(&config, request).await?;
    if let Some(error) = response.error {
        anyhow::bail!("{error}");
    }
    match command {
        QueueCommand::List { json: true } => {
            for job in &response.jobs {
                println!("{}", control::summary(job));
            }
        }
        QueueCommand::List { json: false } => {
            println!(
                "{:<36}  {:<8}  {:<16}  {:>8}  MEDIA / ERROR",
                "ID", "KIND", "STATE", "ATTEMPTS"
            );
            for job in &response.jobs {
                let detail = job
                    .state
                    .media_id()
                    .map(str::to_string)
                    .or_else(|| job.last_error.clone())
                    .unwrap_or_default();
                println!(
                    "{:<36}  {:<8}  {:<16}  {:>8}  {}",
                    job.id,
                    job.kind.name(),
                    job.state.name(),
                    job.attempts,
                    detail
                );
            }
            println!();
            println!(
                "{}",
                postbooth::doctor::posts_left_line(&config, response.publishing).await
            );
        }
        QueueCommand::Retry { .. } => {
            println!("{} job(s) will be tried again", response.count.unwrap_or(0))
        }
        QueueCommand::Drop { id } => println!("dropped {id}"),
        QueueCommand::Story { id } => {
            if let Some(story) = response.jobs.first() {
                println!("queued Story {} of photo {id}", story.id);
            }
        }
        QueueCommand::Approve { id } | QueueCommand::Reject { id } => {
            let state = response.jobs.first().map_or("?", |j| j.state.name());
            println!("{id}: {state}");
        }
    }
    Ok(())
}

async fn insights(config_path: &Path, json: bool) -> anyhow::Result<()> {
    use postbooth::insights;
    let config = load(config_path)?;
    let reader = insights::Reader::new(&config).await?;
    // The booth's posts: from the running daemon, or from the store when it is not running.
    let jobs = postbooth::queue_ops::ask(&config, Request::List)
        .await?
        .jobs;
    let posts = insights::recent_posts(&jobs, insights::RECENT_POSTS);
    let result = insights::insights(&reader, posts).await?;
    if json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        print!("{}", insights::insights_text(&result));
    }
    Ok(())
}

async fn comments(config_path: &Path, command: CommentsCommand) -> anyhow::Result<()> {
    use postbooth::insights;
    let config = load(config_path)?;
    let reader = insights::Reader::new(&config).await?;
    match command {
        CommentsCommand::List { media, json } => {
            let comments = insights::list_comments(&reader, &media).await?;
            if json {
                for c in &comments {
                    println!("{}", serde_json::to_string(c)?);
                }
            } else if comments.is_empty() {
                println!("no comments on {media}");
            } else {
                for c in &comments {
                    let hidden = if c.hidden { " (hidden)" } else { "" };
                    println!("{}  @{}{hidden}: {}", c.id, c.username, c.text);
                }
            }
        }
        CommentsCommand::Reply { comment, text } => {
            if let Err(problem) = postbooth::publish::caption::validate(&text) {
                anyhow::bail!("the reply {problem}");
            }
            let id = insights::reply(&reader, &comment, &text).await?;
            println!("replied to {comment}: {id}");
        }
        CommentsCommand::Hide { comment, unhide } => {
            insights::hide(&reader, &comment, !unhide).await?;
            println!("{} {comment}", if unhide { "shown" } else { "hidden" });
        }
        CommentsCommand::Delete { comment } => {
            insights::delete(&reader, &comment).await?;
            println!("deleted {comment}");
        }
    }
    Ok(())
}

async fn auth_refresh(config_path: &Path) -> anyhow::Result<()> {
    use postbooth::publish::{graph, token};
    let config = load(config_path)?;
    let file = &config.instagram.access_token_file;
    let graph = graph::GraphClient::new(
        &config.instagram.graph_url,
        config.user_id(),
        graph::Token::load(file)?,
        std::time::Duration::from_secs(config.instagram.request_timeout_secs),
    );
    let now = postbooth::clock::system_ms() / 1000;
    let record = token::refresh(&config, &graph, now).await?;
    println!(
        "token refreshed: {} days left (until {}); written to {}",
        record.days_left(now),
        postbooth::publish::gate::utc_text(record.expires_at()),
        file.display()
    );
    // A running booth reads the token file again now rather than within the hour.
    let socket = postbooth::store::control_socket_path(&config.store.dir);
    if let Ok(Some(_)) = control::call(&socket, &Request::ReloadToken).await {
        println!("the running booth now uses the new token");
    }
    Ok(())
}

/// SIGTERM (systemd) or SIGINT (Ctrl-C). The handlers are installed now, not when the future
/// is first polled: systemd may stop the booth right after READY=1, before `run` waits.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("stopping: no new photos; finishing the save in progress");
    }
}
