//! The loopback network of a local run: one [`Proxy`] per directed link (who dials, whom),
//! and the fault state that decides what each link does. Overlapping faults are counted,
//! so a link heals only when its last fault does (as in the simulator).

use std::collections::{BTreeMap, BTreeSet};

use super::proxy::{LinkState, Proxy};

struct Link {
    /// The dialing host (a site host, `bloodraven`, `counter`).
    client: String,
    /// The host listening behind the proxy.
    server: String,
    proxy: Proxy,
}

#[derive(Default)]
pub struct Net {
    links: Vec<Link>,
    /// Unordered host pairs cut both ways (`partition`, `partition-pair`, `fetch-stall`).
    cuts: BTreeMap<(String, String), u32>,
    /// `(from, to)`: bytes from `from` to `to` are dropped (`partition-oneway`).
    oneway: BTreeMap<(String, String), u32>,
    /// Hosts whose node is down: every link touching them refuses and resets.
    down: BTreeSet<String>,
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a < b {
        (a.into(), b.into())
    } else {
        (b.into(), a.into())
    }
}

impl Net {
    /// Adds a link from `client` to `server` listening on `upstream`; returns the port
    /// `client` must dial.
    pub async fn link(
        &mut self,
        client: &str,
        server: &str,
        upstream: u16,
    ) -> std::io::Result<u16> {
        let proxy = Proxy::start(upstream).await?;
        let port = proxy.port;
        self.links.push(Link {
            client: client.into(),
            server: server.into(),
            proxy,
        });
        self.refresh();
        Ok(port)
    }

    /// Every proxy port with its link, for the run's pid/port file.
    pub fn ports(&self) -> Vec<(u16, String)> {
        self.links
            .iter()
            .map(|l| (l.proxy.port, format!("proxy {} -> {}", l.client, l.server)))
            .collect()
    }

    pub fn cut(&mut self, a: &str, b: &str, heal: bool) {
        count(&mut self.cuts, pair(a, b), heal);
        self.refresh();
    }

    pub fn oneway(&mut self, from: &str, to: &str, heal: bool) {
        count(&mut self.oneway, (from.into(), to.into()), heal);
        self.refresh();
    }

    pub fn set_down(&mut self, host: &str, down: bool) {
        if down {
            self.down.insert(host.into());
        } else {
            self.down.remove(host);
        }
        self.refresh();
    }

    fn refresh(&mut self) {
        for l in &self.links {
            let old = l.proxy.state();
            let down = self.down.contains(&l.client) || self.down.contains(&l.server);
            let cut = self.cuts.contains_key(&pair(&l.client, &l.server));
            let up_dropped = self
                .oneway
                .contains_key(&(l.client.clone(), l.server.clone()));
            let down_dropped = self
                .oneway
                .contains_key(&(l.server.clone(), l.client.clone()));
            let mut new = LinkState {
                // A partition refuses new connections at once and stalls established
                // ones (turmoil's model); a dead node refuses and resets.
                refuse: down || cut,
                hold_up: down || cut || up_dropped,
                hold_down: down || cut || down_dropped,
                latency: old.latency,
                generation: old.generation,
            };
            // Connections stalled across a cut are dead when it heals; a node going
            // down resets its connections at once.
            if (old.blocked() && !new.blocked()) || (down && !old.refuse) {
                new.generation += 1;
            }
            l.proxy.set(new);
        }
    }
}

fn count(map: &mut BTreeMap<(String, String), u32>, key: (String, String), heal: bool) {
    if heal {
        if let Some(n) = map.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&key);
            }
        }
    } else {
        *map.entry(key).or_insert(0) += 1;
    }
}
