//! The upload ledger in Redis, shared by every replica: [`RedisLedger`],
//! the [`LedgerStore`] the ledger's owner thread uses when
//! `PIXGATE_REDIS_URL` is set (SQLite otherwise).
//!
//! Keys:
//! - `{pixgate}:ledger:entry:<provider>:<kind>:<id>`: the entry's JSON.
//! - `{pixgate}:ledger:deletehash:<kind>:<deletehash>`: the entry's key.
//! - `{pixgate}:ledger:list:all`, `:list:anonymous`, `:list:account`:
//!   sorted sets of every entry's key behind its creation time and a
//!   sequence number, all at score 0 so Redis orders them by that text:
//!   newest first, as the SQLite ledger lists them.
//! - `{pixgate}:ledger:sequence`: the sequence (a counter).
//!
//! Ownership: in each process the ledger's thread is the only caller
//! (`ledger/mod.rs`); across replicas every write is one Lua script, which
//! Redis runs alone, so a record and a deletion of the same item from two
//! replicas cannot interleave, and no lock is needed. A write that fails
//! (Redis down) stays queued in the owner thread and is retried in order;
//! the request is answered `X-Pixgate-Ledger: unrecorded` meanwhile. Crash
//! window: a process killed while a write is queued (Redis down) loses that
//! record; its log line has it.

use super::{Fleet, FleetError, Lua};
use crate::ledger::{Entry, ItemKind, LedgerError, LedgerStore, ListQuery, Listed};

/// Adds an entry or merges it into the one stored (a field the new one
/// leaves empty keeps its value; the creation time and place in the lists
/// stay). KEYS: entry, all, anonymous, account, sequence, deletehash (or
/// ""). ARGV: the entry's JSON.
const RECORD: &str = r#"
local new = cjson.decode(ARGV[1])
local old_json = redis.call('GET', KEYS[1])
local member
if old_json then
  local old = cjson.decode(old_json)
  for _, field in ipairs({'deletehash', 'link', 'type', 'size', 'album', 'account'}) do
    if new[field] == nil or new[field] == cjson.null then new[field] = old[field] end
  end
  new.created_at = old.created_at
  member = old._member
  redis.call('ZREM', KEYS[3], member)
  redis.call('ZREM', KEYS[4], member)
else
  local sequence = redis.call('INCR', KEYS[5])
  member = string.format('%015d:%015d:%s', new.created_at, sequence, KEYS[1])
end
new.anonymous = (new.account == nil or new.account == cjson.null)
new._member = member
redis.call('SET', KEYS[1], cjson.encode(new))
redis.call('ZADD', KEYS[2], 0, member)
if new.anonymous then
  redis.call('ZADD', KEYS[3], 0, member)
else
  redis.call('ZADD', KEYS[4], 0, member)
end
if KEYS[6] ~= '' then
  redis.call('SET', KEYS[6], KEYS[1])
end
return 1
"#;

/// Marks an entry deleted at ARGV[1] unless it already is. KEYS: entry.
const MARK_DELETED: &str = r#"
local json = redis.call('GET', KEYS[1])
if not json then return 0 end
local entry = cjson.decode(json)
if entry.deleted_at ~= nil and entry.deleted_at ~= cjson.null then return 0 end
entry.deleted_at = tonumber(ARGV[1])
redis.call('SET', KEYS[1], cjson.encode(entry))
return 1
"#;

/// The ledger in `fleet`'s Redis; see the module docs.
pub struct RedisLedger {
    fleet: Fleet,
    record: redis::Script,
    mark_deleted: redis::Script,
}

impl RedisLedger {
    pub fn new(fleet: Fleet) -> Self {
        Self {
            fleet,
            record: redis::Script::new(RECORD),
            mark_deleted: redis::Script::new(MARK_DELETED),
        }
    }

    /// Where it is, for messages.
    pub fn location(&self) -> String {
        format!("Redis at {}", self.fleet.location())
    }

    fn entry_key(&self, kind: ItemKind, id: &str) -> String {
        self.fleet
            .key(&format!("ledger:entry:imgur:{}:{id}", kind.as_str()))
    }

    fn deletehash_key(&self, kind: ItemKind, deletehash: &str) -> String {
        self.fleet
            .key(&format!("ledger:deletehash:{}:{deletehash}", kind.as_str()))
    }

    fn list_key(&self, which: &str) -> String {
        self.fleet.key(&format!("ledger:list:{which}"))
    }

    /// Runs `future` from the ledger's thread.
    fn run<T: Send + 'static>(
        &self,
        future: impl std::future::Future<Output = Result<T, FleetError>> + Send + 'static,
    ) -> Result<T, LedgerError> {
        self.fleet
            .block_on(future)
            .map_err(|e| LedgerError::Store(e.to_string()))
    }

    fn decode(json: &str) -> Result<Entry, LedgerError> {
        serde_json::from_str(json)
            .map_err(|e| LedgerError::Store(format!("a ledger entry in Redis is not JSON ({e})")))
    }
}

impl LedgerStore for RedisLedger {
    fn record(&mut self, entry: &Entry) -> Result<(), LedgerError> {
        let json = serde_json::to_string(entry).map_err(|e| LedgerError::Store(e.to_string()))?;
        let deletehash = entry
            .deletehash
            .as_deref()
            .map(|d| self.deletehash_key(entry.kind, d))
            .unwrap_or_default();
        let script = Lua::new(&self.record)
            .key(self.entry_key(entry.kind, &entry.id))
            .key(self.list_key("all"))
            .key(self.list_key("anonymous"))
            .key(self.list_key("account"))
            .key(self.fleet.key("ledger:sequence"))
            .key(deletehash)
            .arg(json);
        let fleet = self.fleet.clone();
        self.run(async move { fleet.invoke::<i64>("ledger_record", script).await })
            .map(drop)
    }

    fn mark_deleted(&mut self, kind: ItemKind, id: &str, at: i64) -> Result<(), LedgerError> {
        let script = Lua::new(&self.mark_deleted)
            .key(self.entry_key(kind, id))
            .arg(at);
        let fleet = self.fleet.clone();
        self.run(async move { fleet.invoke::<i64>("ledger_delete", script).await })
            .map(drop)
    }

    fn find(&mut self, kind: ItemKind, key: &str) -> Result<Option<Entry>, LedgerError> {
        let (by_id, by_deletehash) = (self.entry_key(kind, key), self.deletehash_key(kind, key));
        let fleet = self.fleet.clone();
        let json = self.run(async move {
            let found: Option<String> = fleet
                .query("ledger_find", redis::cmd("GET").arg(&by_id))
                .await?;
            if found.is_some() {
                return Ok(found);
            }
            let entry_key: Option<String> = fleet
                .query("ledger_find", redis::cmd("GET").arg(&by_deletehash))
                .await?;
            match entry_key {
                Some(entry_key) => {
                    fleet
                        .query("ledger_find", redis::cmd("GET").arg(entry_key))
                        .await
                }
                None => Ok(None),
            }
        })?;
        json.as_deref().map(Self::decode).transpose()
    }

    fn list(&mut self, query: ListQuery) -> Result<Listed, LedgerError> {
        let list = self.list_key(match query.anonymous {
            None => "all",
            Some(true) => "anonymous",
            Some(false) => "account",
        });
        let start = i64::try_from(query.offset).unwrap_or(i64::MAX);
        let stop = start.saturating_add(i64::from(query.limit));
        let fleet = self.fleet.clone();
        let entries: Vec<Option<String>> = self.run(async move {
            let members: Vec<String> = fleet
                .query(
                    "ledger_list",
                    redis::cmd("ZREVRANGE").arg(&list).arg(start).arg(stop),
                )
                .await?;
            if members.is_empty() {
                return Ok(Vec::new());
            }
            let keys: Vec<&str> = members
                .iter()
                .filter_map(|m| m.splitn(3, ':').nth(2))
                .collect();
            fleet
                .query("ledger_list", redis::cmd("MGET").arg(keys))
                .await
        })?;
        let mut entries = entries
            .iter()
            .flatten()
            .map(|json| Self::decode(json))
            .collect::<Result<Vec<_>, _>>()?;
        let more = entries.len() > query.limit as usize;
        entries.truncate(query.limit as usize);
        Ok(Listed { entries, more })
    }
}
