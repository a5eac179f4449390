//! UpdateThing, UpdateThingGroup, DeleteThingGroup, ListThingGroups and
//! ListThingGroupsForThing through aws-sdk-iot. The rules, and where each comes from, are
//! in docs/registry-ops-semantics.md; the boto3 / AWS CLI suite
//! (tests/python/test_registry_ops.py) covers them in more detail.

use std::collections::HashMap;

use crate::harness::{Server, code_status};
use aws_sdk_iot::error::ProvideErrorMetadata as _;
use aws_sdk_iot::types::{AttributePayload, ThingGroupProperties};

fn group_arn(name: &str) -> String {
    format!("arn:aws:iot:us-east-1:000000000000:thinggroup/{name}")
}

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn payload(pairs: &[(&str, &str)], merge: bool) -> AttributePayload {
    let mut b = AttributePayload::builder().merge(merge);
    for (k, v) in pairs {
        b = b.attributes(*k, *v);
    }
    b.build()
}

/// (attributes, version) of a thing.
async fn thing_state(iot: &aws_sdk_iot::Client, name: &str) -> (HashMap<String, String>, i64) {
    let d = iot.describe_thing().thing_name(name).send().await.unwrap();
    (d.attributes().cloned().unwrap_or_default(), d.version())
}

/// (description, attributes, version) of a thing group.
async fn group_state(
    iot: &aws_sdk_iot::Client,
    name: &str,
) -> (String, HashMap<String, String>, i64) {
    let d = iot
        .describe_thing_group()
        .thing_group_name(name)
        .send()
        .await
        .unwrap();
    let props = d.thing_group_properties();
    (
        props
            .and_then(|p| p.thing_group_description())
            .unwrap_or_default()
            .to_owned(),
        props
            .and_then(|p| p.attribute_payload())
            .and_then(|a| a.attributes())
            .cloned()
            .unwrap_or_default(),
        d.version(),
    )
}

async fn create_group(iot: &aws_sdk_iot::Client, name: &str, parent: Option<&str>) {
    iot.create_thing_group()
        .thing_group_name(name)
        .set_parent_group_name(parent.map(str::to_owned))
        .send()
        .await
        .unwrap();
}

/// earth > europe > (berlin, paris); earth > asia > tokyo; moon.
async fn create_tree(iot: &aws_sdk_iot::Client) {
    for (name, parent) in [
        ("earth", None),
        ("europe", Some("earth")),
        ("berlin", Some("europe")),
        ("paris", Some("europe")),
        ("asia", Some("earth")),
        ("tokyo", Some("asia")),
        ("moon", None),
    ] {
        create_group(iot, name, parent).await;
    }
}

/// Every group name of ListThingGroups, through the SDK's paginator, and the page count.
async fn list_groups(
    req: aws_sdk_iot::operation::list_thing_groups::builders::ListThingGroupsFluentBuilder,
) -> (Vec<String>, usize) {
    let pages = req.into_paginator().send().collect::<Vec<_>>().await;
    let n = pages.len();
    let names = pages
        .into_iter()
        .flat_map(|p| p.unwrap().thing_groups.unwrap_or_default())
        .filter_map(|g| g.group_name)
        .collect();
    (names, n)
}

async fn groups_for(iot: &aws_sdk_iot::Client, thing: &str) -> Vec<String> {
    let pages = iot
        .list_thing_groups_for_thing()
        .thing_name(thing)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    pages
        .into_iter()
        .flat_map(|p| p.unwrap().thing_groups.unwrap_or_default())
        .filter_map(|g| g.group_name)
        .collect()
}

#[tokio::test]
async fn update_thing_expected_version() {
    let server = Server::start();
    let iot = server.iot();
    iot.create_thing()
        .thing_name("t1")
        .attribute_payload(payload(&[("a", "1"), ("b", "2")], false))
        .send()
        .await
        .unwrap();
    assert_eq!(
        thing_state(&iot, "t1").await,
        (map(&[("a", "1"), ("b", "2")]), 1)
    );

    // Merge with the expected version: set c, remove b (empty value), keep a.
    iot.update_thing()
        .thing_name("t1")
        .expected_version(1)
        .attribute_payload(payload(&[("b", ""), ("c", "3")], true))
        .send()
        .await
        .unwrap();
    assert_eq!(
        thing_state(&iot, "t1").await,
        (map(&[("a", "1"), ("c", "3")]), 2)
    );

    // A stale version: 409, nothing changes.
    let err = iot
        .update_thing()
        .thing_name("t1")
        .expected_version(1)
        .attribute_payload(payload(&[("z", "9")], false))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("VersionConflictException".into(), 409));
    assert_eq!(
        thing_state(&iot, "t1").await,
        (map(&[("a", "1"), ("c", "3")]), 2)
    );

    // Without merge the map is replaced; without a payload it is kept.
    iot.update_thing()
        .thing_name("t1")
        .expected_version(2)
        .attribute_payload(payload(&[("z", "9")], false))
        .send()
        .await
        .unwrap();
    iot.update_thing()
        .thing_name("t1")
        .thing_type_name("lamp")
        .send()
        .await
        .unwrap();
    let d = iot.describe_thing().thing_name("t1").send().await.unwrap();
    assert_eq!(d.thing_type_name(), Some("lamp"));
    assert_eq!(thing_state(&iot, "t1").await, (map(&[("z", "9")]), 4));
    iot.update_thing()
        .thing_name("t1")
        .remove_thing_type(true)
        .send()
        .await
        .unwrap();
    let d = iot.describe_thing().thing_name("t1").send().await.unwrap();
    assert_eq!((d.thing_type_name(), d.version()), (None, 5));
    let err = iot
        .update_thing()
        .thing_name("t1")
        .thing_type_name("lamp")
        .remove_thing_type(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("InvalidRequestException".into(), 400));

    let err = iot
        .update_thing()
        .thing_name("ghost")
        .expected_version(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("ResourceNotFoundException".into(), 404));
    let err = iot
        .update_thing()
        .thing_name("t".repeat(129))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("InvalidRequestException".into(), 400));
    assert_eq!(thing_state(&iot, "t1").await.1, 5);
}

#[tokio::test]
async fn update_thing_group_version_and_properties() {
    let server = Server::start();
    let iot = server.iot();
    let created = iot
        .create_thing_group()
        .thing_group_name("g")
        .thing_group_properties(
            ThingGroupProperties::builder()
                .thing_group_description("first")
                .attribute_payload(payload(&[("a", "1")], false))
                .build(),
        )
        .send()
        .await
        .unwrap();

    let out = iot
        .update_thing_group()
        .thing_group_name("g")
        .thing_group_properties(
            ThingGroupProperties::builder()
                .thing_group_description("second")
                .attribute_payload(payload(&[("b", "2")], true))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.version(), 2);
    assert_eq!(
        group_state(&iot, "g").await,
        ("second".into(), map(&[("a", "1"), ("b", "2")]), 2)
    );
    let d = iot
        .describe_thing_group()
        .thing_group_name("g")
        .send()
        .await
        .unwrap();
    assert_eq!(d.thing_group_id(), created.thing_group_id());
    assert_eq!(d.thing_group_arn(), Some(group_arn("g").as_str()));

    // Only the attributes, replaced: the description is kept.
    let out = iot
        .update_thing_group()
        .thing_group_name("g")
        .expected_version(2)
        .thing_group_properties(
            ThingGroupProperties::builder()
                .attribute_payload(payload(&[("c", "3")], false))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.version(), 3);
    assert_eq!(
        group_state(&iot, "g").await,
        ("second".into(), map(&[("c", "3")]), 3)
    );

    let err = iot
        .update_thing_group()
        .thing_group_name("g")
        .expected_version(2)
        .thing_group_properties(
            ThingGroupProperties::builder()
                .thing_group_description("stale")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("VersionConflictException".into(), 409));
    assert_eq!(group_state(&iot, "g").await.0, "second");

    let err = iot
        .update_thing_group()
        .thing_group_name("ghost")
        .thing_group_properties(ThingGroupProperties::builder().build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("ResourceNotFoundException".into(), 404));
}

#[tokio::test]
async fn delete_thing_group_rules() {
    let server = Server::start();
    let iot = server.iot();
    create_group(&iot, "parent", None).await;
    create_group(&iot, "child", Some("parent")).await;
    create_group(&iot, "other", None).await;
    for t in ["t1", "t2"] {
        iot.create_thing().thing_name(t).send().await.unwrap();
    }
    for (g, t) in [("child", "t1"), ("other", "t1"), ("child", "t2")] {
        iot.add_thing_to_thing_group()
            .thing_group_name(g)
            .thing_name(t)
            .send()
            .await
            .unwrap();
    }

    // A group with a child group is refused, with AWS's message.
    let err = iot
        .delete_thing_group()
        .thing_group_name("parent")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("InvalidRequestException".into(), 400));
    let message = err
        .as_service_error()
        .and_then(|e| e.message())
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains(
            "Cannot delete thing group : parent when there are still child groups attached to it"
        ),
        "{message:?}"
    );
    // A stale version is refused before that.
    let err = iot
        .delete_thing_group()
        .thing_group_name("parent")
        .expected_version(9)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("VersionConflictException".into(), 409));

    // A group with members can be deleted; the memberships go with it.
    let err = iot
        .delete_thing_group()
        .thing_group_name("child")
        .expected_version(2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("VersionConflictException".into(), 409));
    iot.delete_thing_group()
        .thing_group_name("child")
        .expected_version(1)
        .send()
        .await
        .unwrap();
    assert_eq!(groups_for(&iot, "t1").await, ["other"]);
    assert!(groups_for(&iot, "t2").await.is_empty());
    let err = iot
        .describe_thing_group()
        .thing_group_name("child")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("ResourceNotFoundException".into(), 404));
    // The things themselves are untouched.
    assert_eq!(thing_state(&iot, "t2").await.1, 1);

    // Now the parent can go; deleting what does not exist (any more) is a success.
    iot.delete_thing_group()
        .thing_group_name("parent")
        .send()
        .await
        .unwrap();
    for name in ["parent", "never-existed"] {
        iot.delete_thing_group()
            .thing_group_name(name)
            .send()
            .await
            .expect("deleting an unknown thing group succeeds");
    }
    iot.delete_thing_group()
        .thing_group_name("never-existed")
        .expected_version(3)
        .send()
        .await
        .expect("also with an expected version");
    let (names, _) = list_groups(iot.list_thing_groups()).await;
    assert_eq!(names, ["other"]);

    let err = iot
        .delete_thing_group()
        .thing_group_name("bad name!")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("InvalidRequestException".into(), 400));
}

#[tokio::test]
async fn list_thing_groups_paging_and_filters() {
    let server = Server::start();
    let iot = server.iot();
    create_tree(&iot).await;
    let all = [
        "asia", "berlin", "earth", "europe", "moon", "paris", "tokyo",
    ];

    let (names, pages) = list_groups(iot.list_thing_groups().max_results(2)).await;
    assert_eq!(names, all);
    assert_eq!(pages, 4);
    let first = iot.list_thing_groups().max_results(7).send().await.unwrap();
    assert_eq!(first.thing_groups().len(), 7);
    assert_eq!(first.next_token(), None, "no token on the last page");
    let g = &first.thing_groups()[0];
    assert_eq!(
        (g.group_name(), g.group_arn()),
        (Some("asia"), Some(group_arn("asia").as_str()))
    );

    let (roots, _) = list_groups(iot.list_thing_groups().recursive(false)).await;
    assert_eq!(roots, ["earth", "moon"]);
    let (under, _) =
        list_groups(iot.list_thing_groups().parent_group("earth").max_results(1)).await;
    assert_eq!(under, ["asia", "berlin", "europe", "paris", "tokyo"]);
    let (children, _) = list_groups(
        iot.list_thing_groups()
            .parent_group("earth")
            .recursive(false),
    )
    .await;
    assert_eq!(children, ["asia", "europe"]);
    let (prefixed, _) = list_groups(iot.list_thing_groups().name_prefix_filter("e")).await;
    assert_eq!(prefixed, ["earth", "europe"]);

    let err = iot
        .list_thing_groups()
        .parent_group("mars")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("ResourceNotFoundException".into(), 404));
    let err = iot
        .list_thing_groups()
        .next_token("not-a-token")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("InvalidRequestException".into(), 400));
}

#[tokio::test]
async fn list_thing_groups_for_thing_direct_memberships() {
    let server = Server::start();
    let iot = server.iot();
    create_tree(&iot).await;
    create_group(&iot, "sun", None).await;
    iot.create_thing().thing_name("t1").send().await.unwrap();
    iot.create_thing().thing_name("idle").send().await.unwrap();
    for g in ["sun", "berlin", "moon"] {
        iot.add_thing_to_thing_group()
            .thing_group_name(g)
            .thing_name("t1")
            .send()
            .await
            .unwrap();
    }

    // Direct memberships only (not europe or earth), by name, over pages of one.
    let pages = iot
        .list_thing_groups_for_thing()
        .thing_name("t1")
        .max_results(1)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(pages.len(), 3);
    let groups: Vec<(String, String)> = pages
        .into_iter()
        .flat_map(|p| p.unwrap().thing_groups.unwrap_or_default())
        .map(|g| (g.group_name.unwrap(), g.group_arn.unwrap()))
        .collect();
    assert_eq!(
        groups,
        ["berlin", "moon", "sun"].map(|n| (n.to_owned(), group_arn(n)))
    );
    assert!(groups_for(&iot, "idle").await.is_empty());

    let err = iot
        .list_thing_groups_for_thing()
        .thing_name("ghost")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code_status(&err), ("ResourceNotFoundException".into(), 404));
}
