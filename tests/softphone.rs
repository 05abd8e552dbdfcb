//! A real softphone as the agent's phone: baresip (Debian), answering
//! automatically, called by Switchboard without an offer (RFC 3725 Flow
//! IV), re-offered the customer's media, and hung up when the customer
//! (SIPp behind the PBX) hangs up. The call's record comes from SIP.

mod common;

use std::time::Duration;

use common::sipp::{Sipp, assert_passed, free_udp_port};
use common::{TestServer, open_now};
use serde_json::json;
use switchboard::rules::dialling::DialMode;
use switchboard::testing::{TestDb, require_service, temp_dir};

/// baresip on `port`, auto-answering, with a WAV file of silence as its
/// microphone and another as its loudspeaker: no sound card needed.
struct Baresip {
    child: tokio::process::Child,
    dir: std::path::PathBuf,
}

impl Baresip {
    async fn start(port: u16) -> Option<Baresip> {
        if std::process::Command::new("baresip").arg("-h").output().is_err() {
            require_service("baresip", "PATH", "the `baresip` binary (Debian package baresip-core) is not installed");
            return None;
        }
        let dir = temp_dir("baresip");
        std::fs::write(dir.join("silence.wav"), silence_wav()).unwrap();
        let config = format!(
            "poll_method\tepoll\nsip_listen\t127.0.0.1:{port}\nsip_trans_def\tudp\n\
             audio_source\taufile,{}\naudio_player\taufile,{}\naudio_alert\taufile,{}\n\
             module_path\t/usr/lib/baresip/modules\nmodule\tg711.so\nmodule\taufile.so\n\
             module_app\taccount.so\n",
            dir.join("silence.wav").display(),
            dir.join("heard.wav").display(),
            dir.join("alert.wav").display(),
        );
        std::fs::write(dir.join("config"), config).unwrap();
        std::fs::write(
            dir.join("accounts"),
            format!("<sip:1001@127.0.0.1:{port}>;regint=0;answermode=auto;audio_codecs=PCMA,PCMU\n"),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
        let child = tokio::process::Command::new("baresip")
            .arg("-f")
            .arg(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start baresip");
        tokio::time::sleep(Duration::from_millis(800)).await;
        Some(Baresip { child, dir })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }
}

/// Twenty seconds of 8 kHz 16-bit mono silence, as a WAV file (baresip
/// hangs up when its source file ends).
fn silence_wav() -> Vec<u8> {
    let data = vec![0u8; 16_000 * 20];
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&16_000u32.to_le_bytes()); // bytes a second
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    wav
}

#[tokio::test]
async fn a_callback_is_dialled_to_a_real_softphone_and_joined_to_the_customer() {
    let port = free_udp_port();
    let Some(mut phone) = Baresip::start(port).await else { return };
    let Some(customer) = Sipp::start(None, "placed_customer_hangs_up", 1, &[]) else { return };
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    open_now(&mut config);
    config.sip.outbound = Some(common::outbound(customer.port));
    config.kinds.get_mut("missed_call_callback").unwrap().dialling = DialMode::Progressive;
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    let body = json!({"username": "li", "password": "agent-password", "skills": ["callbacks"],
        "sip_uri": format!("sip:1001@127.0.0.1:{port}")});
    assert_eq!(admin.post("/api/v1/agents", body).await.0, 201);
    let mut console = server.console("li").await;
    let (_, task) =
        admin.post("/api/v1/tasks", json!({"kind": "missed_call_callback", "customer_phone": "13800138000"})).await;
    let offer = console.expect("offer").await;
    console.send(json!({"type": "accept", "task_id": offer["task"]["id"]})).await;
    let mut states = Vec::new();
    let mut last = json!(null);
    while let Some(call) = console.expect_within("call", Duration::from_secs(20)).await {
        states.push(call["state"].as_str().unwrap().to_owned());
        last = call;
        if last["state"] == "ended" {
            break;
        }
    }
    let customer = customer.finish().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = phone.log();
    println!("baresip:\n{log}\nlast call message: {last}");
    assert_passed(&customer);
    let _ = phone.child.kill().await;
    assert_eq!(states, ["calling_you", "ringing_customer", "connected", "ended"], "{last}\nbaresip:\n{log}");
    assert_eq!(last["outcome"], "reached", "{last}");
    let (_, records) = admin.get(&format!("/api/v1/calls/outbound?task_id={}", task["id"].as_str().unwrap())).await;
    let record = &records[0];
    assert_eq!(record["hung_up_by"], "customer", "{record}");
    assert!(record["agent_answered_at"].is_string(), "{record}");
    // The softphone saw the call end (Switchboard's BYE), not a time-out.
    assert!(log.to_lowercase().contains("closed") || log.to_lowercase().contains("terminated"), "{log}");
    server.stop().await;
}
