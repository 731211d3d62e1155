//! The DNS server answering real queries from a real resolver.
use super::*;
use hickory_resolver::{
    TokioResolver,
    config::{
        ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig,
        ResolverOpts,
    },
    net::{NetError, runtime::TokioRuntimeProvider},
};
use std::{
    net::{Ipv4Addr, Ipv6Addr},
    time::Instant,
};
use tokio::time::timeout;

/// Upper bound for any single wait in these tests.
const WAIT: Duration = Duration::from_secs(10);

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn localhost() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// Resolver that talks only to `addr` (UDP, and TCP on the same port), no cache.
fn resolver(
    addr: SocketAddr,
    tcp_only: bool,
    query_timeout: Duration,
    attempts: usize,
) -> Result<TokioResolver, NetError> {
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = addr.port();
    let connections = if tcp_only { vec![tcp] } else { vec![udp, tcp] };
    let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
        addr.ip(),
        true,
        connections,
    )]);
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.timeout = query_timeout;
    opts.attempts = attempts;
    opts.use_hosts_file = ResolveHosts::Never;
    TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
}

fn quick_resolver(addr: SocketAddr) -> Result<TokioResolver, NetError> {
    resolver(addr, false, Duration::from_millis(300), 0)
}

async fn ips(r: &TokioResolver, name: &str) -> Result<Vec<IpAddr>, Box<dyn std::error::Error>> {
    let lookup = timeout(WAIT, r.lookup_ip(name)).await??;
    let mut v: Vec<IpAddr> = lookup.iter().collect();
    v.sort();
    Ok(v)
}

#[tokio::test]
async fn a_lookup_returns_addresses_and_ttl() -> TestResult {
    let server = DnsServer::start(localhost(), "demo.test.").await?;
    assert_eq!(server.zone(), "demo.test.");
    let v4a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let v4b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    server.set_addrs("api-1", &[v4b, v4a, v6], 42).await?;

    let r = quick_resolver(server.addr())?;
    let before = Instant::now();
    let lookup = timeout(WAIT, r.lookup_ip("api-1.demo.test.")).await??;
    let mut got: Vec<IpAddr> = lookup.iter().collect();
    got.sort();
    assert_eq!(got, vec![v4a, v4b, v6]);
    for record in lookup.as_lookup().answers() {
        assert_eq!(record.ttl, 42, "{record}");
    }
    let valid_for = lookup.valid_until().saturating_duration_since(before);
    assert!(valid_for > Duration::from_secs(40) && valid_for <= Duration::from_secs(43));

    // The FQDN spelling without trailing dot addresses the same name.
    server.set_addrs("api-1.demo.test", &[v4a], 7).await?;
    let lookup = timeout(WAIT, r.ipv4_lookup("api-1.demo.test.")).await??;
    assert_eq!(lookup.answers().len(), 1);
    assert_eq!(lookup.answers()[0].ttl, 7);
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn set_addrs_replaces_instead_of_adding() -> TestResult {
    let server = DnsServer::start(localhost(), "demo.test").await?;
    let r = quick_resolver(server.addr())?;
    let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let c = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 3));
    server.set_addrs("api-2", &[a], 30).await?;
    assert_eq!(ips(&r, "api-2.demo.test.").await?, vec![a]);
    server.set_addrs("api-2.demo.test.", &[b, c], 30).await?;
    assert_eq!(ips(&r, "api-2.demo.test.").await?, vec![b, c]);
    server.set_addrs("api-2", &[a], 30).await?;
    assert_eq!(ips(&r, "api-2.demo.test.").await?, vec![a]);
    Ok(())
}

#[tokio::test]
async fn remove_gives_nxdomain() -> TestResult {
    let server = DnsServer::start(localhost(), "demo.test.").await?;
    let r = quick_resolver(server.addr())?;
    let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
    server.set_addrs("gone", &[a], 5).await?;
    server
        .set_srv("gone", &[(1, 1, 80, "gone".into())], 5)
        .await?;
    assert_eq!(ips(&r, "gone.demo.test.").await?, vec![a]);

    server.remove("gone").await?;
    let err = timeout(WAIT, r.lookup_ip("gone.demo.test.")).await?.err();
    assert!(err.as_ref().is_some_and(NetError::is_nx_domain), "{err:?}");
    let err = timeout(WAIT, r.srv_lookup("gone.demo.test.")).await?.err();
    assert!(err.as_ref().is_some_and(NetError::is_nx_domain), "{err:?}");
    let err = timeout(WAIT, r.lookup_ip("never.demo.test.")).await?.err();
    assert!(err.as_ref().is_some_and(NetError::is_nx_domain), "{err:?}");

    // A name that exists with other types only: NOERROR/NODATA, not NXDOMAIN.
    server
        .set_srv("srvonly", &[(1, 1, 80, "x".into())], 5)
        .await?;
    let err = timeout(WAIT, r.lookup_ip("srvonly.demo.test."))
        .await?
        .err();
    assert!(
        err.as_ref()
            .is_some_and(|e| e.is_no_records_found() && !e.is_nx_domain()),
        "{err:?}"
    );

    // Removing the apex keeps the zone alive.
    server.remove("@").await?;
    server.set_addrs("back", &[a], 5).await?;
    assert_eq!(ips(&r, "back.demo.test.").await?, vec![a]);
    Ok(())
}

#[tokio::test]
async fn silent_times_out_then_recovers() -> TestResult {
    let server = DnsServer::start(localhost(), "demo.test.").await?;
    let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    server.set_addrs("api", &[a], 5).await?;
    let r = resolver(server.addr(), false, Duration::from_millis(300), 1)?;
    assert_eq!(ips(&r, "api.demo.test.").await?, vec![a]);

    server.set_silent(true);
    assert!(server.is_silent());
    let before_q = server.queries();
    let started = Instant::now();
    let res = timeout(WAIT, r.lookup_ip("api.demo.test.")).await?;
    let elapsed = started.elapsed();
    assert!(matches!(res, Err(NetError::Timeout)), "{res:?}");
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(
        server.queries() > before_q,
        "silent queries are still counted"
    );

    server.set_silent(false);
    assert_eq!(ips(&r, "api.demo.test.").await?, vec![a]);
    Ok(())
}

#[tokio::test]
async fn srv_lookup() -> TestResult {
    let server = DnsServer::start(localhost(), "demo.test.").await?;
    let r = quick_resolver(server.addr())?;
    server
        .set_srv(
            "_http._tcp.api",
            &[
                (10, 5, 8080, "api-1".to_string()),
                (20, 0, 9090, "backup.example.com.".to_string()),
            ],
            60,
        )
        .await?;
    let lookup = timeout(WAIT, r.srv_lookup("_http._tcp.api.demo.test.")).await??;
    let mut got: Vec<(u16, u16, u16, String, u32)> = lookup
        .answers()
        .iter()
        .filter_map(|rec| match &rec.data {
            RData::SRV(srv) => Some((
                srv.priority,
                srv.weight,
                srv.port,
                srv.target.to_string(),
                rec.ttl,
            )),
            _ => None,
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (10, 5, 8080, "api-1.demo.test.".to_string(), 60),
            (20, 0, 9090, "backup.example.com.".to_string(), 60),
        ]
    );

    // Replacing, then clearing.
    server
        .set_srv("_http._tcp.api", &[(1, 1, 1, "x".into())], 60)
        .await?;
    let lookup = timeout(WAIT, r.srv_lookup("_http._tcp.api.demo.test.")).await??;
    assert_eq!(lookup.answers().len(), 1);
    server.set_srv("_http._tcp.api", &[], 60).await?;
    let err = timeout(WAIT, r.srv_lookup("_http._tcp.api.demo.test."))
        .await?
        .err();
    assert!(err.as_ref().is_some_and(NetError::is_nx_domain), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn queries_are_counted() -> TestResult {
    let server = DnsServer::start(localhost(), "demo.test.").await?;
    let r = quick_resolver(server.addr())?;
    server
        .set_addrs("api", &[IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))], 5)
        .await?;
    assert_eq!(server.queries(), 0);
    for _ in 0..3 {
        timeout(WAIT, r.ipv4_lookup("api.demo.test.")).await??;
    }
    let _ = timeout(WAIT, r.ipv4_lookup("missing.demo.test.")).await?;
    assert_eq!(server.queries(), 4);
    Ok(())
}

#[tokio::test]
async fn tcp_is_served_on_the_same_port() -> TestResult {
    let server = DnsServer::start(localhost(), "demo.test.").await?;
    let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    server.set_addrs("api", &[a], 5).await?;
    let mut r = resolver(server.addr(), true, Duration::from_millis(500), 0)?;
    assert_eq!(ips(&r, "api.demo.test.").await?, vec![a]);
    // Silent also applies to TCP.
    server.set_silent(true);
    let res = timeout(WAIT, r.ipv4_lookup("api.demo.test.")).await?;
    assert!(matches!(res, Err(NetError::Timeout)), "{res:?}");
    server.set_silent(false);
    r = resolver(server.addr(), true, Duration::from_millis(500), 0)?;
    assert_eq!(ips(&r, "api.demo.test.").await?, vec![a]);
    Ok(())
}

#[tokio::test]
async fn stop_releases_the_port() -> TestResult {
    let server = DnsServer::start(localhost(), "demo.test.").await?;
    let addr = server.addr();
    assert_ne!(addr.port(), 0);
    server.stop().await;
    let udp = UdpSocket::bind(addr).await?;
    let tcp = TcpListener::bind(addr).await?;
    drop((udp, tcp));

    // Same after a plain drop (sockets are closed once the aborted tasks are gone).
    let server = DnsServer::start(addr, "demo.test.").await?;
    assert_eq!(server.addr(), addr);
    drop(server);
    let bound = timeout(WAIT, async {
        loop {
            if let (Ok(u), Ok(t)) = (
                std::net::UdpSocket::bind(addr),
                std::net::TcpListener::bind(addr),
            ) {
                return (u, t);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(bound.is_ok());
    Ok(())
}

#[tokio::test]
async fn names_are_validated() -> TestResult {
    let server = DnsServer::start(localhost(), "demo.test.").await?;
    assert_eq!(server.fqdn("api-2")?, "api-2.demo.test.");
    // Names are normalised to lower case.
    assert_eq!(server.fqdn("API-2.demo.test")?, "api-2.demo.test.");
    assert_eq!(server.fqdn("@")?, "demo.test.");
    assert!(matches!(
        server.set_addrs("other.example.", &[], 5).await,
        Err(DnsServerError::OutsideZone { .. })
    ));
    assert!(matches!(
        server.remove("bad..name").await,
        Err(DnsServerError::InvalidName { .. })
    ));
    assert!(matches!(
        DnsServer::start(localhost(), "bad..zone").await,
        Err(DnsServerError::InvalidName { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn ipv4_only_strategy_and_case_insensitive_names() -> TestResult {
    let server = DnsServer::start(localhost(), "Demo.Test.").await?;
    let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    server.set_addrs("Api", &[a], 5).await?;
    let mut udp = ConnectionConfig::udp();
    udp.port = server.addr().port();
    let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
        server.addr().ip(),
        true,
        vec![udp],
    )]);
    let mut builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
    builder.options_mut().cache_size = 0;
    builder.options_mut().ip_strategy = LookupIpStrategy::Ipv4Only;
    let r = builder.build()?;
    assert_eq!(ips(&r, "api.demo.test.").await?, vec![a]);
    assert_eq!(server.queries(), 1);
    Ok(())
}
