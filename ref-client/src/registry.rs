//! The table of codecs, one per vector type.

use smp_proto::broker::BrokerMsg;
use smp_proto::command::SmpCommand;
use smp_proto::message::NMsgMeta;
use smp_proto::server::SmpServer;
use smp_proto::version::{smp, Version};
use smp_proto::Encode as _;

use crate::codecs::{Codec, CodecError, Ctx};
use crate::codecs::Typed;

/// The SMP version of a context (newest when absent).
fn smp_v(ctx: &Ctx<'_>) -> Version {
    ctx.version.map_or(smp::CURRENT, Version)
}

static SMP_COMMAND: Typed<SmpCommand> = Typed::new(
    "smp.command",
    |b, c| Ok(SmpCommand::decode(b, smp_v(c))?),
    |v, c| Ok(v.to_vec(smp_v(c))),
);

static SMP_BROKER_MSG: Typed<BrokerMsg> = Typed::new(
    "smp.broker_msg",
    |b, c| Ok(BrokerMsg::decode(b, smp_v(c))?),
    |v, c| Ok(v.to_vec(smp_v(c))),
);

static NMSG_META: Typed<NMsgMeta> = Typed::new("nmsg.meta", |b, _| Ok(NMsgMeta::parse(b)?), |v, _| Ok(v.to_bytes()));

static SMP_SERVER_STR: Typed<SmpServer> =
    Typed::new("smp_server.str", |b, _| Ok(SmpServer::parse_text(b)?), |v, _| Ok(v.to_text()));

#[allow(dead_code)]
fn other(msg: impl Into<String>) -> CodecError {
    CodecError::Other(msg.into())
}

pub(crate) static CODECS: &[&dyn Codec] = &[&SMP_COMMAND, &SMP_BROKER_MSG, &NMSG_META, &SMP_SERVER_STR];
