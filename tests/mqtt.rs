//! MQTT against a real Mosquitto broker started here on loopback (Debian package `mosquitto`,
//! installed by scripts/install-test-tools.sh), with its own config: a password file and TLS
//! with certificates made at test time (rcgen), a broker restarted mid-run, a broker that is
//! down when the booth starts, and wrong credentials. The test's own client is
//! `mosquitto_sub`/`mosquitto_pub` (package `mosquitto-clients`).

use crate::helper::*;
use postbooth::sim::{SimOptions, Simulator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "booth";
const PASSWORD: &str = "broker-s3cret";

fn tool(name: &str) -> Command {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join(name);
        if path.is_file() {
            return Command::new(path);
        }
    }
    panic!("{name} is not installed: run scripts/install-test-tools.sh (packages mosquitto, mosquitto-clients)");
}

/// Certificates for the TLS listener: a CA, and a server certificate it signed for
/// 127.0.0.1 and localhost.
struct Certs {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn make_certs(dir: &Path) -> Certs {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "postbooth test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let certs = Certs {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&certs.ca, ca.pem()).unwrap();
    std::fs::write(&certs.cert, cert.pem()).unwrap();
    write_private(&certs.key, &key.serialize_pem(), 0o600);
    certs
}

/// A Mosquitto with its own config, persistence and log in `dir`.
struct Mosquitto {
    dir: PathBuf,
    port: u16,
    conf: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    fn new(dir: &Path, port: u16, password: bool, certs: Option<&Certs>) -> Mosquitto {
        let dir = dir.join(format!("mosquitto-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut conf = format!(
            "listener {port} 127.0.0.1\n\
             persistence true\n\
             persistence_location {}/\n\
             log_dest file {}/mosquitto.log\n\
             log_type all\n\
             user root\n",
            dir.display(),
            dir.display()
        );
        if password {
            let file = dir.join("passwords");
            let out = tool("mosquitto_passwd")
                .args(["-b", "-c"])
                .arg(&file)
                .args([USER, PASSWORD])
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            conf.push_str(&format!(
                "allow_anonymous false\npassword_file {}\n",
                file.display()
            ));
        } else {
            conf.push_str("allow_anonymous true\n");
        }
        if let Some(c) = certs {
            conf.push_str(&format!(
                "cafile {}\ncertfile {}\nkeyfile {}\n",
                c.ca.display(),
                c.cert.display(),
                c.key.display()
            ));
        }
        let path = dir.join("mosquitto.conf");
        std::fs::write(&path, conf).unwrap();
        Mosquitto {
            dir,
            port,
            conf: path,
            child: None,
        }
    }

    fn start(&mut self) {
        let child = tool("mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for("mosquitto to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", self.port))
                .ok()
                .map(|_| ())
        });
    }

    /// SIGTERM, as a broker restart does: it saves sessions and retained messages first.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child, not yet reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            child.wait().unwrap();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How the test's own clients reach the broker.
#[derive(Clone)]
struct Client {
    port: u16,
    auth: bool,
    ca: Option<PathBuf>,
}

impl Client {
    fn args(&self, cmd: &mut Command) {
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if self.auth {
            cmd.args(["-u", USER, "-P", PASSWORD]);
        }
        if let Some(ca) = &self.ca {
            cmd.arg("--cafile").arg(ca);
        }
    }

    /// The retained message on `topic`, if any (a subscriber gets it at once).
    fn retained(&self, topic: &str) -> Option<String> {
        let mut cmd = tool("mosquitto_sub");
        self.args(&mut cmd);
        cmd.args(["-t", topic, "-C", "1", "-W", "2", "--retained-only"]);
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!text.is_empty()).then_some(text)
    }

    /// A subscriber left running, writing `topic payload` lines to a file.
    fn follow(&self, topic: &str, file: &Path) -> Child {
        let mut cmd = tool("mosquitto_sub");
        self.args(&mut cmd);
        cmd.args(["-t", topic, "-v", "-q", "1"]);
        cmd.stdout(std::fs::File::create(file).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn publish(&self, topic: &str, payload: &str) {
        let mut cmd = tool("mosquitto_pub");
        self.args(&mut cmd);
        cmd.args(["-t", topic, "-m", payload, "-q", "1"]);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "mosquitto_pub: {out:?}");
    }
}

fn status_json(client: &Client, booth: &str) -> Option<serde_json::Value> {
    serde_json::from_str(&client.retained(&format!("postbooth/{booth}/status"))?).ok()
}

/// Waits until the retained status satisfies `ok`; returns it.
fn status_until(
    client: &Client,
    booth: &str,
    what: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = status_json(client, booth);
        if let Some(s) = status.as_ref().filter(|s| ok(s)) {
            return s.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the status never showed {what}: last {status:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn lines_of(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A booth configured for MQTT: `[mqtt]` keys added to the usual test booth.
fn booth(sim: &Simulator, url: &str, id: &str, auth: Option<&str>, ca: Option<&Path>) -> Booth {
    let mut keys: Vec<(&str, &str, String)> = vec![
        ("mqtt", "url", quoted(url)),
        ("mqtt", "booth_id", quoted(id)),
    ];
    if auth.is_some() {
        keys.push(("mqtt", "username", quoted(USER)));
        keys.push(("mqtt", "password_file", quoted("PASSWORD_FILE")));
    }
    if let Some(ca) = ca {
        keys.push(("mqtt", "ca_file", quoted(&ca.display().to_string())));
    }
    let keys: Vec<(&str, &str, &str)> = keys.iter().map(|(s, k, v)| (*s, *k, v.as_str())).collect();
    let b = setup_with(&sim.base_url(), &keys);
    if let Some(password) = auth {
        let file = b.dir.path().join("mqtt-password");
        write_private(&file, &format!("{password}\n"), 0o600);
        let text = std::fs::read_to_string(&b.config)
            .unwrap()
            .replace("PASSWORD_FILE", &file.display().to_string());
        b.write_config(&text);
    }
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_a_password_the_booth_reports_posts_and_takes_commands() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let certs = make_certs(dir.path());
    let port = free_port();
    let mut broker = Mosquitto::new(dir.path(), port, true, Some(&certs));
    broker.start();
    let client = Client {
        port,
        auth: true,
        ca: Some(certs.ca.clone()),
    };
    let b = booth(
        &sim,
        &format!("mqtts://127.0.0.1:{port}"),
        "tls1",
        Some(PASSWORD),
        Some(&certs.ca),
    );
    let events_file = dir.path().join("events.txt");
    let mut follower = client.follow("postbooth/tls1/#", &events_file);
    let mut daemon = b.start_daemon("daemon");

    let online = wait_for("availability online", || {
        client
            .retained("postbooth/tls1/availability")
            .filter(|a| a == "online")
    });
    assert_eq!(online, "online");
    // Home Assistant discovery: the device's shoot button, retained.
    let button: serde_json::Value = serde_json::from_str(
        &client
            .retained("homeassistant/button/postbooth_tls1/shoot/config")
            .expect("discovery config for the shoot button"),
    )
    .unwrap();
    assert_eq!(button["command_topic"], "postbooth/tls1/command");
    assert_eq!(button["device"]["identifiers"][0], "postbooth_tls1");

    // "shoot" over MQTT: a photo is saved and posted; events say so, with the permalink.
    client.publish("postbooth/tls1/command", "shoot");
    let posted = wait_for("a Posted event", || {
        lines_of(&events_file)
            .into_iter()
            .find(|l| l.starts_with("postbooth/tls1/events ") && l.contains("\"posted\""))
    });
    assert!(posted.contains("\"permalink\":\"http"), "{posted}");
    let lines = lines_of(&events_file);
    assert!(
        lines.iter().any(|l| l.contains("\"event\":\"saved\"")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("postbooth/tls1/command/result ") && l.contains("\"ok\":true")),
        "{lines:#?}"
    );
    let status = status_until(&client, "tls1", "one post", |s| s["posts_published"] == 1);
    assert_eq!(status["camera"], "up");
    assert!(status["last_post"].as_str().unwrap().starts_with("http"));
    assert!(status["token_days_left"].as_i64().unwrap() >= 59);

    // Anything else is refused, said in the result and the log.
    client.publish("postbooth/tls1/command", "reboot");
    wait_for("the refusal", || {
        lines_of(&events_file)
            .into_iter()
            .find(|l| l.contains("command/result") && l.contains("\"ok\":false"))
    });
    assert!(daemon.log_text().contains("refused an MQTT command"));

    // pause: photos are still taken and saved, not posted; resume posts them.
    client.publish("postbooth/tls1/command", "pause");
    status_until(&client, "tls1", "paused", |s| {
        s["publishing_paused"] == true
    });
    let held = b.shoot();
    status_until(&client, "tls1", "a photo waiting while paused", |s| {
        s["waiting"] == 1 && s["photos_saved"] == 2
    });
    let state = b
        .list()
        .into_iter()
        .find(|j| j["id"] == held.as_str())
        .unwrap()["state"]
        .clone();
    assert_ne!(state, "Done", "posted while paused");
    client.publish("postbooth/tls1/command", "resume");
    status_until(&client, "tls1", "both posted after resume", |s| {
        s["posts_published"] == 2 && s["publishing_paused"] == false
    });
    assert!(sim.publishes_by_image().values().all(|&n| n == 1));

    // retry: nothing failed, so nothing to start again, and it says so.
    client.publish("postbooth/tls1/command", "retry");
    let retried = wait_for("the retry result", || {
        lines_of(&events_file)
            .into_iter()
            .find(|l| l.contains("command/result") && l.contains("\"retry\""))
    });
    assert!(
        retried.contains("\"ok\":true") && retried.contains("0 failed job(s)"),
        "{retried}"
    );

    // A clean stop says "offline" itself.
    assert!(daemon.terminate().success());
    assert_eq!(
        client.retained("postbooth/tls1/availability").as_deref(),
        Some("offline")
    );
    let _ = follower.kill();
    let _ = follower.wait();
    broker.stop();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_broker_restart_the_booth_reconnects_and_loses_no_command() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut broker = Mosquitto::new(dir.path(), port, false, None);
    broker.start();
    let client = Client {
        port,
        auth: false,
        ca: None,
    };
    let b = booth(&sim, &format!("mqtt://127.0.0.1:{port}"), "r1", None, None);
    let _daemon = b.start_daemon("daemon");
    status_until(&client, "r1", "the first status", |s| s["booth_id"] == "r1");

    broker.stop();
    // The broker is gone: the booth takes and posts photos all the same.
    b.shoot();
    broker.start();
    // Sent at once, likely before the booth is back: the broker keeps it for the booth's
    // persistent session.
    client.publish("postbooth/r1/command", "shoot");
    let status = status_until(&client, "r1", "both photos posted", |s| {
        s["photos_saved"] == 2 && s["posts_published"] == 2
    });
    assert_eq!(status["waiting"], 0);
    assert_eq!(b.list().len(), 2, "the command shot exactly one photo");
    assert_eq!(
        client.retained("postbooth/r1/availability").as_deref(),
        Some("online")
    );
    let connects = broker.log().matches("New client connected").count();
    assert!(
        connects >= 2,
        "reconnected after the restart:\n{}",
        broker.log()
    );
    broker.stop();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_broker_down_at_start_the_booth_posts_anyway_and_connects_later() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let b = booth(&sim, &format!("mqtt://127.0.0.1:{port}"), "d1", None, None);
    let daemon = b.start_daemon("daemon");
    b.shoot();
    wait_for("the photo posted with no broker", || {
        b.list()
            .first()
            .filter(|j| j["state"] == "Done")
            .map(|_| ())
    });
    assert!(daemon.log_text().contains("cannot reach the MQTT broker"));

    let mut broker = Mosquitto::new(dir.path(), port, false, None);
    broker.start();
    let client = Client {
        port,
        auth: false,
        ca: None,
    };
    status_until(&client, "d1", "the post, once connected", |s| {
        s["posts_published"] == 1 && s["photos_saved"] == 1
    });
    assert_eq!(
        client.retained("postbooth/d1/availability").as_deref(),
        Some("online")
    );
    broker.stop();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_said_clearly_and_not_retried_in_a_tight_loop() {
    let sim = Simulator::start(SimOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut broker = Mosquitto::new(dir.path(), port, true, None);
    broker.start();
    let b = booth(
        &sim,
        &format!("mqtt://127.0.0.1:{port}"),
        "w1",
        Some("not-the-password"),
        None,
    );
    let mut daemon = b.start_daemon("daemon");
    wait_for("the refusal in the log", || {
        daemon
            .log_text()
            .contains("refused the booth's login")
            .then_some(())
    });
    let log = daemon.log_text();
    assert!(log.contains("mqtt.password_file"), "{log}");
    // The booth goes on: photos are taken and posted.
    b.shoot();
    wait_for("the photo posted", || {
        b.list()
            .first()
            .filter(|j| j["state"] == "Done")
            .map(|_| ())
    });
    std::thread::sleep(Duration::from_secs(3));
    // A tight loop would have made hundreds of attempts by now; the booth waits a minute.
    let attempts = broker.log().matches("New connection from").count();
    assert!(
        (1..=2).contains(&attempts),
        "{attempts} connection attempts:\n{}",
        broker.log()
    );
    assert!(daemon.is_running());
    assert!(
        !log.contains("not-the-password"),
        "the password is never logged"
    );
    broker.stop();
    sim.shutdown().await;
}
