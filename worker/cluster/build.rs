//! Generates the cluster's gRPC code from `proto/cluster.proto` (needs `protoc`, Debian's
//! protobuf-compiler; `.ci/setup` installs it).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/cluster.proto");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_protos(&["proto/cluster.proto"], &["proto"])?;
    Ok(())
}
