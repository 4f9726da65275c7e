//! The epoch hand-over (`docs/protocol.md` §11): where an epoch ends, what may follow
//! its last block, and how the next committee takes over.

use super::*;

/// Four nodes hand over at height 3 to a committee of the same keys in reverse order
/// (every index changes) with unequal stakes; `lose_child` loses the first proposal
/// above the epoch's last block. Checks what every hand-over must hold and returns the
/// network and the certificate each node holds for the epoch's last block.
fn hand_over_at_height_3(lose_child: bool) -> (Net, Vec<(Block, FinalityCert)>) {
    let mut net = Net::new(4, false);
    let members: Vec<Member> = net
        .keys
        .iter()
        .rev()
        .enumerate()
        .map(|(i, k)| Member {
            public_key: k.public_key(),
            stake: 10 + 5 * i as u64,
        })
        .collect();
    let next = NextEpoch {
        epoch: 1,
        l1_block: 77,
        members: members.clone(),
    };
    net.next_epoch_at = Some((3, next.clone()));
    if lose_child {
        net.lose_proposal_at = Some(4);
    }
    for _ in 0..4 {
        net.pump(3_000);
        net.fire_timers();
    }
    net.pump(3_000);
    let next_committee = Committee::new(1, Scheme::Sim, Hash::ZERO, members).unwrap();
    let mut chains = Vec::new();
    let mut ends = Vec::new();
    for i in 0..4 {
        assert_eq!(net.epoch(i), 1, "node {i} handed over");
        let mut chain: Vec<Block> = Vec::new();
        for (blocks, fc) in &net.commits[i] {
            let last = blocks.last().unwrap();
            assert!(fc.is_for(last), "a certificate proves the last block");
            // The old committee's certificates end at the hand-over block; the next
            // committee signs what follows.
            let committee = if last.header.epoch == 0 {
                &net.committee
            } else {
                &next_committee
            };
            assert_eq!(fc.0.epoch, last.header.epoch);
            assert!(fc.0.signing_set(committee, &DOMAIN, Phase::Commit).is_ok());
            if last.next_epoch.is_some() {
                assert_eq!(fc.0.verify(&net.committee, &DOMAIN, Phase::Commit), Ok(()));
                ends.push((last.clone(), fc.clone()));
            } else {
                assert!(fc.at_block_view(&last.header));
            }
            for b in blocks {
                if chain.last().is_some_and(|p: &Block| p.hash() == b.hash()) {
                    continue;
                }
                if let Some(p) = chain.last() {
                    assert_eq!(b.header.parent, p.hash(), "node {i}: commits link");
                    assert_eq!(b.header.height, p.header.height + 1);
                }
                chain.push(b.clone());
            }
        }
        let end = chain
            .iter()
            .position(|b| b.next_epoch.is_some())
            .expect("the hand-over block is final");
        assert_eq!(chain[end].header.height, 3);
        assert_eq!(chain[end].header.epoch, 0);
        assert!(chain[..end].iter().all(|b| b.header.epoch == 0));
        assert!(
            chain[end + 1..].iter().all(|b| b.header.epoch == 1),
            "nothing of the old epoch above its last block is ever final"
        );
        assert!(
            chain.len() > end + 3,
            "node {i}: the next committee finalizes blocks: {} after the hand-over",
            chain.len() - end - 1
        );
        chains.push(chain);
    }
    let shortest = chains.iter().map(Vec::len).min().unwrap();
    for chain in &chains[1..] {
        assert_eq!(
            chain[..shortest]
                .iter()
                .map(Block::hash)
                .collect::<Vec<_>>(),
            chains[0][..shortest]
                .iter()
                .map(Block::hash)
                .collect::<Vec<_>>(),
            "every node finalized the same chain across the hand-over"
        );
    }
    assert!(net.penalties.is_empty(), "{:?}", net.penalties);
    assert_eq!(
        ends.len(),
        4,
        "every node holds a certificate of the last block"
    );
    (net, ends)
}

#[test]
fn an_epoch_ends_at_its_hand_over_block_and_the_next_committee_goes_on_from_it() {
    let (_, ends) = hand_over_at_height_3(false);
    for (end, fc) in ends {
        // Its child was certified in the next view: the standard certificate.
        assert!(fc.at_block_view(&end.header));
    }
}

#[test]
fn a_last_block_whose_child_is_lost_is_made_final_through_a_block_above_it() {
    let (net, ends) = hand_over_at_height_3(true);
    for (end, fc) in ends {
        assert!(
            fc.view() > end.header.view + 1,
            "made final at view {} through a later block (the last block is at {})",
            fc.view(),
            end.header.view
        );
    }
    // Votes above the last block named it, never the block they were on (H3).
    let above: Vec<Hash> = net
        .store
        .values()
        .filter(|b| b.header.epoch == 0 && b.header.height > 3)
        .map(Block::hash)
        .collect();
    assert!(!above.is_empty(), "blocks were built above the last block");
    for (_, m) in &net.sent {
        if let Message::Vote(v) = m {
            if let Some(c) = &v.commit {
                assert!(
                    !above.contains(&c.block_hash),
                    "a commit signature named a block above the last one"
                );
            }
        }
    }
}

#[test]
fn blocks_after_the_hand_over_block_carry_nothing() {
    let mut net = Net::new(4, false);
    net.pump(2_000);
    let engine = net.engines[0].as_mut().unwrap();
    let next = NextEpoch {
        epoch: 1,
        l1_block: 1,
        members: net.committee.members().to_vec(),
    };
    let committed = engine.tree.committed().clone();
    let end = Block::ending_epoch(
        Header {
            parent: committed.hash(),
            height: committed.header.height + 1,
            view: 1_000,
            epoch: 0,
            payload_digest: synod_types::block_payload_digest(&[], Some(&next)),
            da_commitment: Hash::ZERO,
            timestamp_ms: 0,
            proposer: 0,
        },
        QuorumCert::genesis(0, committed.hash(), 4),
        Vec::new(),
        Some(next.clone()),
    );
    engine.tree.insert(end.clone());
    let batch = [Hash::from_u64(1)];
    assert!(
        !engine.block_shape_ok(&end.hash(), &batch, None),
        "no batches"
    );
    assert!(
        !engine.block_shape_ok(&end.hash(), &[], Some(&next)),
        "no second record"
    );
    assert!(engine.block_shape_ok(&end.hash(), &[], None));
    assert!(engine.block_shape_ok(&committed.hash(), &batch, Some(&next)));
    // A chain with a gap below: whether it passes the epoch's last block is unknown.
    let orphan = Block::new(
        Header {
            parent: Hash::from_u64(404),
            height: committed.header.height + 5,
            view: 1_004,
            ..end.header.clone()
        },
        QuorumCert::genesis(0, Hash::from_u64(404), 4),
    );
    engine.tree.insert(orphan.clone());
    assert_eq!(
        engine.epoch_end(&orphan.hash()).err(),
        Some(Hash::from_u64(404))
    );
    assert!(
        !engine.block_shape_ok(&orphan.hash(), &[], None),
        "nothing signed on it"
    );
    let stale = NextEpoch { epoch: 0, ..next };
    assert!(
        !engine.block_shape_ok(&committed.hash(), &[], Some(&stale)),
        "a record names a later epoch"
    );
}
