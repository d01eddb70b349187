//! The MQTT connection: one task drives rumqttc's event loop (connect, reconnect with backoff,
//! incoming commands), another publishes the status and events. Capture and publishing never
//! wait for it: a broker that is down only means nobody hears from the booth until it is back.

use super::messages::{self, Command, StatusJson};
use super::settings::Settings;
use super::Booth;
use crate::telemetry::Event as BoothEvent;
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, LastWill, MqttOptions, Packet, QoS,
    TlsConfiguration, Transport,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch, Notify};
use tracing::{debug, error, info, warn};

/// Reconnect backoff (full jitter): from 1 s up to 30 s between attempts after network
/// failures, never less than a minute after the broker refused the credentials.
const RETRY_BASE: Duration = Duration::from_secs(1);
const RETRY_CAP: Duration = Duration::from_secs(30);
const REFUSED_PAUSE: Duration = Duration::from_secs(60);
/// Status changes closer together than this (a countdown) go out as one message.
const STATUS_COALESCE: Duration = Duration::from_millis(300);
/// The status is sent again this often even when unchanged (token days left move slowly).
const STATUS_REFRESH: Duration = Duration::from_secs(60);

/// The options for the broker: client id, keep-alive, last will, credentials, TLS.
pub fn options(settings: &Settings) -> anyhow::Result<MqttOptions> {
    let b = &settings.broker;
    let mut o = MqttOptions::new(format!("postbooth-{}", settings.booth_id), &b.host, b.port);
    o.set_keep_alive(Duration::from_secs(30));
    // A persistent session: commands sent (QoS 1) while the booth is away, a broker restart
    // included (with persistence on), are delivered when it is back.
    o.set_clean_session(false);
    o.set_last_will(LastWill::new(
        settings.topic(messages::AVAILABILITY),
        messages::OFFLINE,
        QoS::AtLeastOnce,
        true,
    ));
    if let Some(user) = &settings.username {
        o.set_credentials(user, settings.password.clone().unwrap_or_default());
    }
    if b.tls {
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls_config(settings)?),
        )));
    }
    Ok(o)
}

/// rustls on ring: the public roots, plus `mqtt.ca_file` for a broker with a private CA.
fn tls_config(settings: &Settings) -> anyhow::Result<rustls::ClientConfig> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca) = &settings.ca_file {
        let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(ca)
            .and_then(|i| i.collect::<Result<_, _>>())
            .map_err(|e| {
                anyhow::anyhow!(
                    "mqtt.ca_file {}: cannot read a PEM certificate there ({e})",
                    ca.display()
                )
            })?;
        if certs.is_empty() {
            anyhow::bail!("mqtt.ca_file {} holds no certificate", ca.display());
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                anyhow::anyhow!("mqtt.ca_file {}: not a usable CA ({e})", ca.display())
            })?;
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

/// A failed connection in words, with what to do when a person has to do something.
fn explain(e: &ConnectionError, settings: &Settings) -> (String, bool) {
    let b = &settings.broker;
    match e {
        ConnectionError::ConnectionRefused(
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized,
        ) => (
            format!(
                "the MQTT broker {}:{} refused the booth's login ({e}): check mqtt.username and \
                 the password in mqtt.password_file",
                b.host, b.port
            ),
            true,
        ),
        ConnectionError::ConnectionRefused(code) => (
            format!(
                "the MQTT broker {}:{} refused the connection: {code:?}",
                b.host, b.port
            ),
            true,
        ),
        ConnectionError::Tls(t) => (
            format!(
                "TLS with the MQTT broker {}:{} failed ({t}): is it mqtts:// on a TLS port, and is \
                 its certificate for this host name and signed by a trusted CA (mqtt.ca_file)?",
                b.host, b.port
            ),
            false,
        ),
        other => (
            format!(
                "cannot reach the MQTT broker {}:{}: {other}",
                b.host, b.port
            ),
            false,
        ),
    }
}

/// Runs until `shutdown`: connects, keeps reconnecting, answers commands, and on the way out
/// says "offline" itself (the last will covers a crash or a lost network).
pub async fn run(
    settings: Settings,
    booth: Booth,
    connected: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let options = match options(&settings) {
        Ok(o) => o,
        Err(e) => {
            error!(error = %format!("{e:#}"), "MQTT is off: the settings cannot be used");
            return;
        }
    };
    let (client, mut eventloop) = AsyncClient::new(options, 128);
    let command_topic = settings.topic(messages::COMMAND);
    let on_connect = Arc::new(Notify::new());
    let statuses = tokio::spawn(publish_status_and_events(
        client.clone(),
        settings.clone(),
        booth.clone(),
        on_connect.clone(),
        shutdown.clone(),
    ));
    let mut failures: u32 = 0;
    let mut was_connected = false;
    loop {
        let event = tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                failures = 0;
                was_connected = true;
                connected.send_replace(true);
                info!(broker = %format!("{}:{}", settings.broker.host, settings.broker.port), booth_id = %settings.booth_id, session_present = ack.session_present, "connected to the MQTT broker");
                let _ = client.try_subscribe(&command_topic, QoS::AtLeastOnce);
                let _ = client.try_publish(
                    settings.topic(messages::AVAILABILITY),
                    QoS::AtLeastOnce,
                    true,
                    messages::ONLINE,
                );
                for (topic, config) in messages::discovery(&settings) {
                    let _ = client.try_publish(topic, QoS::AtLeastOnce, true, config);
                }
                on_connect.notify_one();
            }
            Ok(Event::Incoming(Packet::Publish(p))) if p.topic == command_topic => {
                tokio::spawn(answer(
                    client.clone(),
                    settings.clone(),
                    booth.clone(),
                    p.payload.to_vec(),
                ));
            }
            Ok(_) => {}
            Err(e) => {
                connected.send_replace(false);
                let (words, refused) = explain(&e, &settings);
                failures += 1;
                let mut wait = crate::publish::backoff::delay(failures, RETRY_BASE, RETRY_CAP);
                if refused {
                    wait = wait.max(REFUSED_PAUSE);
                    error!(problem = %words, retry_secs = wait.as_secs(), "MQTT: not connected");
                } else if was_connected || failures == 1 {
                    // Once per outage at warn; each further attempt only at debug.
                    warn!(problem = %words, retry_secs = wait.as_secs(), "MQTT: not connected; the booth goes on and retries");
                } else {
                    debug!(problem = %words, attempt = failures, retry_secs = wait.as_secs(), "MQTT: still not connected");
                }
                was_connected = false;
                tokio::select! {
                    _ = shutdown.wait_for(|s| *s) => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
    // Going away on purpose: say "offline" (retained) and disconnect cleanly, if connected.
    if *connected.borrow() {
        let _ = client.try_publish(
            settings.topic(messages::AVAILABILITY),
            QoS::AtLeastOnce,
            true,
            messages::OFFLINE,
        );
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while eventloop.poll().await.is_ok() {}
        })
        .await;
    }
    connected.send_replace(false);
    statuses.abort();
}

/// Carries out one command and says how it went on `command/result`.
async fn answer(client: AsyncClient, settings: Settings, booth: Booth, payload: Vec<u8>) {
    let (command, result) = match messages::parse_command(&payload) {
        Err(problem) => {
            warn!(%problem, "refused an MQTT command");
            (None, Err(problem))
        }
        Ok(command) => {
            info!(?command, "MQTT command");
            (Some(command), execute(command, &booth).await)
        }
    };
    let reply = serde_json::json!({
        "command": command,
        "ok": result.is_ok(),
        "detail": match &result { Ok(d) | Err(d) => d },
    });
    if let Err(detail) = &result {
        if command.is_some() {
            warn!(?command, %detail, "MQTT command failed");
        }
    }
    let _ = client
        .publish(
            settings.topic(messages::COMMAND_RESULT),
            QoS::AtLeastOnce,
            false,
            reply.to_string(),
        )
        .await;
}

async fn execute(command: Command, booth: &Booth) -> Result<String, String> {
    match command {
        Command::Shoot => match booth.shooter.shoot().await {
            Ok(job) => Ok(format!("saved {}", job.id)),
            Err(e) => Err(format!("no photo: {e}")),
        },
        Command::Pause => {
            booth.gate.pause(true);
            info!("publishing paused by an MQTT command; photos are still taken and saved");
            booth.refresh.notify_one();
            Ok("publishing paused; photos are still taken and saved".into())
        }
        Command::Resume => {
            booth.gate.pause(false);
            booth.wake.notify_one();
            booth.refresh.notify_one();
            Ok("publishing resumed".into())
        }
        Command::Retry => {
            let n = booth
                .store
                .blocking(|s| crate::queue_ops::retry(s, None, true))
                .await
                .map_err(|e| format!("cannot retry: {e}"))?;
            booth.wake.notify_one();
            Ok(format!("{n} failed job(s) will be tried again"))
        }
    }
}

/// Sends the retained status when it changes (and on each connect, and every minute), and
/// every event as it happens.
async fn publish_status_and_events(
    client: AsyncClient,
    settings: Settings,
    booth: Booth,
    on_connect: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut status_rx = booth.status.clone();
    let mut events = booth.telemetry.subscribe();
    let mut last_post = latest_post(&booth).await;
    let mut sent: Option<StatusJson> = None;
    let status_topic = settings.topic(messages::STATUS);
    let events_topic = settings.topic(messages::EVENTS);
    loop {
        let mut force = false;
        let mut coalesce = false;
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = on_connect.notified() => force = true,
            _ = booth.refresh.notified() => {}
            _ = tokio::time::sleep(STATUS_REFRESH) => force = true,
            changed = status_rx.changed() => {
                if changed.is_err() {
                    return;
                }
                coalesce = true;
            }
            event = events.recv() => match event {
                Ok(event) => {
                    if let BoothEvent::Posted { permalink, .. } = &event {
                        last_post = (permalink.clone(), Some(crate::clock::system_ms() / 1000));
                    }
                    let _ = client.try_publish(
                        &events_topic,
                        QoS::AtLeastOnce,
                        false,
                        serde_json::to_string(&event).unwrap_or_default(),
                    );
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    warn!(missed = n, "MQTT: events came faster than they could be sent; some were not sent");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
        if coalesce {
            tokio::time::sleep(STATUS_COALESCE).await;
        }
        let status = status_json(&settings, &booth, &last_post);
        if force || sent.as_ref() != Some(&status) {
            let payload = serde_json::to_string(&status).unwrap_or_default();
            if client
                .try_publish(&status_topic, QoS::AtLeastOnce, true, payload)
                .is_ok()
            {
                sent = Some(status);
            }
        }
    }
}

fn status_json(
    settings: &Settings,
    booth: &Booth,
    last_post: &(Option<String>, Option<u64>),
) -> StatusJson {
    let status = booth.status.borrow().clone();
    let info = booth.gate.info();
    let counters = booth.telemetry.counters();
    let now = crate::clock::system_ms() / 1000;
    StatusJson {
        booth_id: settings.booth_id.clone(),
        state: messages::state_word(&format!("{:?}", status.screen)),
        text: crate::notify::status_text(&status),
        waiting: status.waiting,
        posts_left: info.posts_left,
        publishing_paused: booth.gate.is_paused(),
        publishing_held: info.waiting_because,
        last_post: last_post.0.clone(),
        last_post_at: last_post.1,
        camera: messages::up_down(counters.camera_up),
        network: messages::up_down(counters.network_up),
        token_days_left: booth
            .sources
            .token_expiry(now)
            .map(|secs| secs.div_euclid(86_400)),
        photos_saved: counters.photos_saved,
        posts_published: counters.posts_published,
        version: env!("CARGO_PKG_VERSION"),
    }
}

/// The permalink and time of the newest post in the store, for the status after a restart.
async fn latest_post(booth: &Booth) -> (Option<String>, Option<u64>) {
    let jobs = booth.store.blocking(|s| s.jobs()).await.unwrap_or_default();
    jobs.iter()
        .rev()
        .find(|j| j.state.is_published())
        .map_or((None, None), |j| {
            (
                j.state.permalink().map(str::to_string),
                Some(j.created_at_ms / 1000),
            )
        })
}
