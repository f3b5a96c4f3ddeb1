//! The borrowed block paths allocate nothing per block: checked with dhat's heap profiler in
//! testing mode. One test function, because the profiler is process-global.
#![forbid(unsafe_code)]

use benches::fixtures::{Fixtures, NTF_V};
use benches::hot::{decode_ntf_block, decode_smp_nmsg_block};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn block_decoding_does_not_allocate() {
    let f = Fixtures::new().expect("fixtures build");
    let (smp, ntf) = (f.smp_params(), f.ntf_params());
    let _profiler = dhat::Profiler::builder().testing().build();

    let before = dhat::HeapStats::get();
    let s = decode_smp_nmsg_block(&f.smp_block, &smp).expect("SMP block decodes");
    let n = decode_ntf_block(&f.ntf_block, &ntf, NTF_V).expect("NTF block decodes");
    let after = dhat::HeapStats::get();

    assert_eq!(s.nmsg, f.smp_block_count);
    assert_eq!(n.transmissions, f.ntf_block_count);
    dhat::assert_eq!(after.total_blocks, before.total_blocks);

    // the borrowed SNEW view allocates nothing; the owned decoder of the same bytes allocates
    // only the names of its two hosts (`TransportHost::Domain`/`Onion` hold `String`s): the
    // ids, key hash, port and the host list itself are inline
    let snew = f.command("SNEW").expect("SNEW fixture").to_bytes(NTF_V);
    let before = dhat::HeapStats::get();
    let view = ntf_proto::command::NewNtfSubscriptionRef::parse(&snew);
    let after = dhat::HeapStats::get();
    assert!(matches!(view, Ok(Some(_))));
    dhat::assert_eq!(after.total_blocks, before.total_blocks);
    let before = dhat::HeapStats::get();
    let owned = ntf_proto::command::NtfCommand::decode(&snew, NTF_V);
    let after = dhat::HeapStats::get();
    let Ok(ntf_proto::command::NtfCommand::Snew(owned)) = owned else {
        panic!("SNEW decodes: {owned:?}");
    };
    let hosts = owned.queue.server.hosts();
    assert!(
        matches!(
            hosts,
            [
                smp_proto::server::TransportHost::Domain(_),
                smp_proto::server::TransportHost::Onion(_)
            ]
        ),
        "{hosts:?}"
    );
    dhat::assert_eq!(after.total_blocks - before.total_blocks, 2);

    // the check can fail: the owned decoder allocates for each NMSG
    let raw = smp_proto::transmission::RawTransmission::decode(
        decode_smp_block_first(&f.smp_block),
        &smp,
    )
    .expect("transmission decodes");
    let before = dhat::HeapStats::get();
    let owned = smp_proto::broker::BrokerMsg::decode(raw.command, benches::fixtures::SMP_V);
    let after = dhat::HeapStats::get();
    assert!(owned.is_ok());
    dhat::assert!(after.total_blocks > before.total_blocks);
}

fn decode_smp_block_first(block: &[u8]) -> &[u8] {
    smp_proto::block::decode_block(block, smp_proto::block::SMP_BLOCK_SIZE, true)
        .expect("block decodes")
        .next()
        .expect("one transmission")
}
