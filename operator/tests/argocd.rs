//! The Argo CD health check (`manifests/argocd/health.lua`) run in a Lua interpreter against the
//! statuses the operator writes.

use mlua::{Lua, LuaSerdeExt, Table};
use serde_json::{Value, json};

fn health(object: Value) -> (String, String) {
    let script = std::fs::read_to_string(format!(
        "{}/../manifests/argocd/health.lua",
        std::env::var("CARGO_MANIFEST_DIR").unwrap()
    ))
    .unwrap();
    let lua = Lua::new();
    lua.globals().set("obj", lua.to_value(&object).unwrap()).unwrap();
    let hs: Table = lua.load(&script).eval().unwrap();
    (hs.get("status").unwrap(), hs.get("message").unwrap())
}

fn job(generation: i64, status: Value) -> Value {
    json!({"metadata": {"name": "bids", "generation": generation}, "spec": {}, "status": status})
}

fn condition(type_: &str, status: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": "r", "message": message, "observedGeneration": 1, "lastTransitionTime": "t"})
}

#[test]
fn health_follows_generation_lifecycle_and_conditions() {
    assert_eq!(health(json!({"metadata": {"generation": 1}, "spec": {}})).0, "Progressing");
    let ready = condition("Ready", "True", "3/3 TaskManager pods ready");
    let running = json!({"observedGeneration": 2, "lifecycleState": "Running", "conditions": [ready]});
    assert_eq!(health(job(2, running.clone())), ("Healthy".into(), "3/3 TaskManager pods ready".into()));
    // A newer spec the operator has not seen yet is not healthy, whatever the old status says.
    let (status, message) = health(job(3, running));
    assert_eq!(status, "Progressing");
    assert!(message.contains("generation 3"), "{message}");
    let deploying = json!({"observedGeneration": 1, "lifecycleState": "Deploying",
        "conditions": [condition("Ready", "False", "1/3 TaskManager pods ready"), condition("Degraded", "False", "")]});
    assert_eq!(health(job(1, deploying)).0, "Progressing");
    let failed = json!({"observedGeneration": 1, "lifecycleState": "Failed", "error": "bad quantity"});
    assert_eq!(health(job(1, failed)), ("Degraded".into(), "bad quantity".into()));
    let degraded = json!({"observedGeneration": 1, "lifecycleState": "Running",
        "conditions": [condition("Degraded", "True", "TaskManager lost"), condition("Ready", "True", "ok")]});
    assert_eq!(health(job(1, degraded)).0, "Degraded");
    assert_eq!(health(job(1, json!({"observedGeneration": 1, "lifecycleState": "Suspended"}))).0, "Suspended");
    assert_eq!(health(job(1, json!({"observedGeneration": 1, "lifecycleState": "Finished"}))).0, "Healthy");
}

#[test]
fn every_lifecycle_state_has_a_health() {
    let ready = condition("Ready", "True", "2/2 TaskManager pods ready");
    let savepointing = condition("Savepointing", "True", "Manual savepoint");
    let expected = [
        ("Created", "Progressing"),
        ("Deploying", "Progressing"),
        ("Running", "Healthy"),
        ("Upgrading", "Progressing"),
        ("RollingBack", "Degraded"),
        ("Suspended", "Suspended"),
        ("Finished", "Healthy"),
        ("Failed", "Degraded"),
        ("Deleting", "Progressing"),
    ];
    let schema = serde_json::to_value(schemars::schema_for!(ferroflink_operator::crd::LifecycleState)).unwrap();
    // Documented variants come as `oneOf` of constants.
    let states: Vec<&str> = schema["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["const"].as_str().or(v["enum"][0].as_str()).unwrap())
        .collect();
    assert_eq!(states, expected.iter().map(|e| e.0).collect::<Vec<_>>(), "a new state needs a health");
    for (state, want) in expected {
        let status = json!({"observedGeneration": 1, "lifecycleState": state, "conditions": [ready, savepointing]});
        let (got, message) = health(job(1, status));
        assert_eq!(got, want, "{state}: {message}");
        assert!(!message.is_empty(), "{state}");
    }
}
