//! A JobManager configuration for tests: RPC and REST on 127.0.0.1, on ports the kernel picks.

use ferroflink::config::Config;

pub fn local_config() -> Config {
    let mut config = Config::default();
    config.rpc.advertised_address = Some("127.0.0.1".into());
    config.rpc.bind = "127.0.0.1".into();
    config.rpc.port = Some(0);
    config.rest.bind = "127.0.0.1".into();
    config.rest.port = Some(0);
    config
}
