//! JSON form of the store log records (vector types `store_log.record` and
//! `store_log.last_ntf`, `spec/conformance.md`):
//!
//! ```text
//! record   = {"tag": "TCREATE", "rec": token-rec} / {"tag": "TSTATUS", "id", "status"}
//!          / {"tag": "TUPDATE", "id", "token", "reg_code"} / {"tag": "TCRON", "id", "interval"}
//!          / {"tag": "TDELETE", "id"} / {"tag": "TTIME", "id", "day"}
//!          / {"tag": "SCREATE", "rec": sub-rec} / {"tag": "SSTATUS", "id", "status", "service"}
//!          / {"tag": "SDELETE", "id"} / {"tag": "SERVICE", "server", "service_id": HEX / null}
//! token-rec = {"id", "token", "status", "verify_key", "dh_private", "dh_secret", "reg_code",
//!              "cron_interval", "updated_at": SECONDS / null}
//! sub-rec   = {"id", "queue", "notifier_key", "token_id", "status", "service_assoc"}
//! last_ntf  = {"token_id", "ntf": pn-message-data}
//! ```

use super::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
struct TokenJson {
    id: NtfEntityId,
    token: DeviceToken,
    status: NtfTknStatus,
    verify_key: AuthPublicKey,
    #[serde(with = "smp_proto::json::hex_array")]
    dh_private: [u8; 32],
    #[serde(with = "smp_proto::json::hex_array")]
    dh_secret: [u8; 32],
    reg_code: NtfRegCode,
    cron_interval: u16,
    updated_at: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct SubJson {
    id: NtfEntityId,
    queue: SmpQueueNtf,
    notifier_key: AuthPrivateKey,
    token_id: NtfEntityId,
    status: NtfSubStatus,
    service_assoc: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "tag")]
#[allow(clippy::upper_case_acronyms)]
enum RecordJson {
    TCREATE { rec: TokenJson },
    TSTATUS { id: NtfEntityId, status: NtfTknStatus },
    TUPDATE { id: NtfEntityId, token: DeviceToken, reg_code: NtfRegCode },
    TCRON { id: NtfEntityId, interval: u16 },
    TDELETE { id: NtfEntityId },
    TTIME { id: NtfEntityId, day: i64 },
    SCREATE { rec: SubJson },
    SSTATUS { id: NtfEntityId, status: NtfSubStatus, service: bool },
    SDELETE { id: NtfEntityId },
    SERVICE { server: SmpServer, service_id: Option<NtfEntityId> },
}

impl From<StoreLogRecord> for RecordJson {
    fn from(r: StoreLogRecord) -> Self {
        use StoreLogRecord as R;
        match r {
            R::CreateToken(t) => Self::TCREATE {
                rec: TokenJson {
                    id: t.id,
                    token: t.token,
                    status: t.status,
                    verify_key: t.verify_key,
                    dh_private: t.dh_private,
                    dh_secret: t.dh_secret,
                    reg_code: t.reg_code,
                    cron_interval: t.cron_interval,
                    updated_at: t.updated_at,
                },
            },
            R::TokenStatus(id, status) => Self::TSTATUS { id, status },
            R::UpdateToken(id, token, reg_code) => Self::TUPDATE { id, token, reg_code },
            R::TokenCron(id, interval) => Self::TCRON { id, interval },
            R::DeleteToken(id) => Self::TDELETE { id },
            R::UpdateTokenTime(id, day) => Self::TTIME { id, day },
            R::CreateSubscription(s) => Self::SCREATE {
                rec: SubJson {
                    id: s.id,
                    queue: s.queue,
                    notifier_key: s.notifier_key,
                    token_id: s.token_id,
                    status: s.status,
                    service_assoc: s.service_assoc,
                },
            },
            R::SubscriptionStatus(id, status, service) => Self::SSTATUS { id, status, service },
            R::DeleteSubscription(id) => Self::SDELETE { id },
            R::SetService(server, service_id) => Self::SERVICE { server, service_id },
        }
    }
}

impl From<RecordJson> for StoreLogRecord {
    fn from(j: RecordJson) -> Self {
        use RecordJson as J;
        match j {
            J::TCREATE { rec: t } => Self::CreateToken(TokenRec {
                id: t.id,
                token: t.token,
                status: t.status,
                verify_key: t.verify_key,
                dh_private: t.dh_private,
                dh_secret: t.dh_secret,
                reg_code: t.reg_code,
                cron_interval: t.cron_interval,
                updated_at: t.updated_at,
            }),
            J::TSTATUS { id, status } => Self::TokenStatus(id, status),
            J::TUPDATE { id, token, reg_code } => Self::UpdateToken(id, token, reg_code),
            J::TCRON { id, interval } => Self::TokenCron(id, interval),
            J::TDELETE { id } => Self::DeleteToken(id),
            J::TTIME { id, day } => Self::UpdateTokenTime(id, day),
            J::SCREATE { rec: s } => Self::CreateSubscription(SubRec {
                id: s.id,
                queue: s.queue,
                notifier_key: s.notifier_key,
                token_id: s.token_id,
                status: s.status,
                service_assoc: s.service_assoc,
            }),
            J::SSTATUS { id, status, service } => Self::SubscriptionStatus(id, status, service),
            J::SDELETE { id } => Self::DeleteSubscription(id),
            J::SERVICE { server, service_id } => Self::SetService(server, service_id),
        }
    }
}

impl Serialize for StoreLogRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RecordJson::from(self.clone()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for StoreLogRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(RecordJson::deserialize(d)?.into())
    }
}

#[derive(Serialize, Deserialize)]
struct LastNtfJson {
    token_id: NtfEntityId,
    ntf: PnMessageData,
}

impl Serialize for LastNtfRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        LastNtfJson { token_id: self.token_id.clone(), ntf: self.ntf.clone() }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for LastNtfRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = LastNtfJson::deserialize(d)?;
        Ok(Self { token_id: j.token_id, ntf: j.ntf })
    }
}
