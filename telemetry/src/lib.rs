//! Logs and traces of the ferroflink processes (`ferroflink` and `ferroflink-operator`).
//!
//! Logs go to standard error, filtered by `RUST_LOG` (else the process's default). When
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, spans at INFO and
//! above are also exported over OTLP/HTTP with protobuf bodies (the collector's port 4318), in
//! batches from a thread of their own, under the service name `OTEL_SERVICE_NAME` or the one the
//! process gives. [`inject`] and [`set_parent`] carry a span's W3C `traceparent` across RPCs, so
//! the work a JobManager asks of a TaskManager joins the JobManager's trace.

#[cfg(feature = "collector")]
pub mod collector;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::collections::HashMap;
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The process's telemetry: flushes the spans not exported yet when dropped.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("warning: exporting the last spans failed: {e}");
        }
    }
}

/// Installs the process's logging (`RUST_LOG`, else `default_filter`, to stderr) and, when an OTLP
/// endpoint is configured, the span exporter for `service`; spans of `span_filter` are exported.
pub fn init(service: &str, default_filter: &str, span_filter: &str) -> Telemetry {
    init_with(service, default_filter, span_filter, None)
}

/// [`init`], exporting to the collector at `endpoint` (`http://host:4318`) if given, else to the
/// one the environment names.
pub fn init_with(service: &str, default_filter: &str, span_filter: &str, endpoint: Option<&str>) -> Telemetry {
    use std::io::IsTerminal;
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)));
    let from_env = ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()));
    let traces_url = endpoint.map(|e| format!("{}/v1/traces", e.trim_end_matches('/')));
    let provider = traces_url.clone().or(from_env).and_then(|target| match provider(service, traces_url.as_deref()) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("warning: spans are not exported to {target}: {e}");
            None
        }
    });
    let spans = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer().with_tracer(p.tracer("ferroflink")).with_filter(EnvFilter::new(span_filter))
    });
    // A second initialisation (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(logs).with(spans).try_init();
    Telemetry { provider }
}

use tracing_subscriber::Layer as _;

fn provider(service: &str, traces_url: Option<&str>) -> Result<SdkTracerProvider, String> {
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(UreqClient::default())
        .with_timeout(Duration::from_secs(10));
    if let Some(url) = traces_url {
        builder = builder.with_endpoint(url);
    }
    let exporter = builder.build().map_err(|e| e.to_string())?;
    let name = std::env::var("OTEL_SERVICE_NAME").ok().filter(|n| !n.is_empty()).unwrap_or_else(|| service.into());
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(name).build();
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

/// The exporter's HTTP client: ureq, blocking, on the batch processor's own thread.
#[derive(Debug)]
struct UreqClient(ureq::Agent);

impl Default for UreqClient {
    fn default() -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        UreqClient(agent)
    }
}

#[async_trait::async_trait]
impl HttpClient for UreqClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let mut builder = ureq::http::Request::builder().method(parts.method.as_str()).uri(parts.uri.to_string());
        for (name, value) in &parts.headers {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
        let mut response = self.0.run(builder.body(body.to_vec())?)?;
        let status = response.status().as_u16();
        let bytes = response.body_mut().read_to_vec()?;
        Ok(Response::builder().status(status).body(Bytes::from(bytes))?)
    }
}

/// The W3C `traceparent` of the current span (empty when spans are not exported).
pub fn inject() -> String {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut carrier);
    carrier.remove("traceparent").unwrap_or_default()
}

/// Makes `span` a child of the span `traceparent` names (from [`inject`] in another process).
pub fn set_parent(span: &tracing::Span, traceparent: &str) {
    if traceparent.is_empty() {
        return;
    }
    let carrier = HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
    let _ = span.set_parent(TraceContextPropagator::new().extract(&carrier));
}

#[cfg(all(test, feature = "collector"))]
mod tests {
    use super::*;

    #[test]
    fn spans_reach_an_otlp_collector_and_carry_their_parent_across_processes() {
        let collector = collector::Collector::start();
        let telemetry = init_with("ferroflink-test", "warn", "info", Some(&collector.endpoint()));
        assert!(telemetry.exporting());
        let traceparent = {
            let parent = tracing::info_span!("parent-work", job = "j1");
            let _entered = parent.enter();
            inject()
        };
        assert!(traceparent.starts_with("00-") && traceparent.len() == 55, "{traceparent}");
        let child = tracing::info_span!("remote-work");
        set_parent(&child, &traceparent);
        drop(child);
        drop(telemetry);
        let spans = collector.spans(2);
        let parent = spans.iter().find(|s| s.name == "parent-work").expect("the parent span was exported");
        let child = spans.iter().find(|s| s.name == "remote-work").expect("the child span was exported");
        assert_eq!(child.trace_id, parent.trace_id, "one trace");
        assert_eq!(child.parent_span_id, parent.span_id);
        assert_eq!(parent.service, "ferroflink-test");
    }
}
