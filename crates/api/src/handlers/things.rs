//! Thing registry operations: things and static thing groups.

use super::convert::{
    control_time, group_arn, group_by_name_or_arn, next_token, page_request, thing_arn,
    thing_by_name_or_arn,
};
use crate::app::AccountConfig;
use crate::app::App;
use iotjobs_core::{
    AttributeUpdate, JobsError, NewThing, NewThingGroup, Page, Store, ThingFilter,
    ThingGroupFilter, ThingGroupUpdate, ThingUpdate,
};
use iotjobs_model::generated::iot::{
    AddThingToThingGroupRequest, AddThingToThingGroupResponse, AttributePayload,
    CreateThingGroupRequest, CreateThingGroupResponse, CreateThingRequest, CreateThingResponse,
    DeleteThingGroupRequest, DeleteThingGroupResponse, DeleteThingRequest, DeleteThingResponse,
    DescribeThingGroupRequest, DescribeThingGroupResponse, DescribeThingRequest,
    DescribeThingResponse, GroupNameAndArn, ListThingGroupsForThingRequest,
    ListThingGroupsForThingResponse, ListThingGroupsRequest, ListThingGroupsResponse,
    ListThingsInThingGroupRequest, ListThingsInThingGroupResponse, ListThingsRequest,
    ListThingsResponse, RemoveThingFromThingGroupRequest, RemoveThingFromThingGroupResponse,
    ThingAttribute, ThingGroupMetadata, ThingGroupProperties, UpdateThingGroupRequest,
    UpdateThingGroupResponse, UpdateThingRequest, UpdateThingResponse,
};

/// CreateThing: repeating it with the same configuration returns the existing thing;
/// another configuration under the same name is ResourceAlreadyExistsException (model
/// doc of CreateThing).
pub(crate) async fn create_thing<S: Store>(
    app: &App<S>,
    req: CreateThingRequest,
) -> Result<CreateThingResponse, JobsError> {
    let new = NewThing {
        thing_name: req.thing_name,
        thing_type_name: req.thing_type_name,
        attributes: req
            .attribute_payload
            .and_then(|p| p.attributes)
            .unwrap_or_default(),
        billing_group_name: req.billing_group_name,
    };
    let id = uuid::Uuid::new_v4().to_string();
    let (thing, created) = app.store.create_thing(new.clone(), id, app.now()).await?;
    if !created && !thing.same_configuration(&new) {
        return Err(JobsError::thing_already_exists(
            &thing.thing_name,
            &thing.thing_id,
        ));
    }
    Ok(CreateThingResponse {
        thing_arn: Some(thing_arn(&app.config, &thing.thing_name)),
        thing_name: Some(thing.thing_name),
        thing_id: Some(thing.thing_id),
    })
}

pub(crate) async fn describe_thing<S: Store>(
    app: &App<S>,
    req: DescribeThingRequest,
) -> Result<DescribeThingResponse, JobsError> {
    let name = req.thing_name;
    let thing = app
        .store
        .describe_thing(&name)
        .await?
        .ok_or_else(|| JobsError::thing_not_found(&name))?;
    Ok(DescribeThingResponse {
        // The registry's default MQTT client id is the thing name.
        default_client_id: Some(thing.thing_name.clone()),
        thing_arn: Some(thing_arn(&app.config, &thing.thing_name)),
        thing_name: Some(thing.thing_name),
        thing_id: Some(thing.thing_id),
        thing_type_name: thing.thing_type_name,
        attributes: Some(thing.attributes),
        version: Some(thing.version),
        billing_group_name: thing.billing_group_name,
    })
}

pub(crate) async fn list_things<S: Store>(
    app: &App<S>,
    req: ListThingsRequest,
) -> Result<ListThingsResponse, JobsError> {
    let filter = ThingFilter {
        attribute_name: req.attribute_name,
        attribute_value: req.attribute_value,
        use_prefix_attribute_value: req.use_prefix_attribute_value.unwrap_or(false),
        thing_type_name: req.thing_type_name,
    };
    filter.check()?;
    let page = app
        .store
        .list_things(
            &filter,
            page_request(req.next_token.as_deref(), req.max_results)?,
        )
        .await?;
    Ok(ListThingsResponse {
        things: Some(
            page.items
                .into_iter()
                .map(|t| ThingAttribute {
                    thing_arn: Some(thing_arn(&app.config, &t.thing_name)),
                    thing_name: Some(t.thing_name),
                    thing_type_name: t.thing_type_name,
                    attributes: Some(t.attributes),
                    version: Some(t.version),
                })
                .collect(),
        ),
        next_token: next_token(page.next),
    })
}

/// DeleteThing: succeeds for an unknown thing ("Returns successfully with no error if
/// the deletion is successful or you specify a thing that doesn't exist", model doc);
/// the thing's pending executions become REMOVED.
pub(crate) async fn delete_thing<S: Store>(
    app: &App<S>,
    req: DeleteThingRequest,
) -> Result<DeleteThingResponse, JobsError> {
    let name = req.thing_name;
    app.store
        .delete_thing(&name, req.expected_version, app.now())
        .await?;
    Ok(DeleteThingResponse {})
}

pub(crate) async fn create_thing_group<S: Store>(
    app: &App<S>,
    req: CreateThingGroupRequest,
) -> Result<CreateThingGroupResponse, JobsError> {
    let props = req.thing_group_properties.unwrap_or_default();
    let new = NewThingGroup {
        group_name: req.thing_group_name,
        parent_group_name: req.parent_group_name,
        description: props.thing_group_description,
        attributes: props
            .attribute_payload
            .and_then(|p| p.attributes)
            .unwrap_or_default(),
        tags: req.tags.and_then(|t| serde_json::to_string(&t).ok()),
    };
    let id = uuid::Uuid::new_v4().to_string();
    let (group, created) = app
        .store
        .create_thing_group(new.clone(), id, app.now())
        .await?;
    if !created && !group.same_configuration(&new) {
        return Err(JobsError::thing_group_already_exists(
            &group.group_name,
            &group.group_id,
        ));
    }
    Ok(CreateThingGroupResponse {
        thing_group_arn: Some(group_arn(&app.config, &group.group_name)),
        thing_group_name: Some(group.group_name),
        thing_group_id: Some(group.group_id),
    })
}

pub(crate) async fn describe_thing_group<S: Store>(
    app: &App<S>,
    req: DescribeThingGroupRequest,
) -> Result<DescribeThingGroupResponse, JobsError> {
    let name = req.thing_group_name;
    let g = app
        .store
        .describe_thing_group(&name)
        .await?
        .ok_or_else(|| JobsError::thing_group_not_found(&name))?;
    let c = &app.config;
    Ok(DescribeThingGroupResponse {
        thing_group_arn: Some(group_arn(c, &g.group_name)),
        thing_group_name: Some(g.group_name),
        thing_group_id: Some(g.group_id),
        version: Some(g.version),
        thing_group_properties: Some(ThingGroupProperties {
            thing_group_description: g.description,
            attribute_payload: Some(AttributePayload {
                attributes: Some(g.attributes),
                merge: None,
            }),
        }),
        thing_group_metadata: Some(ThingGroupMetadata {
            parent_group_name: g.parent_group_name,
            root_to_parent_thing_groups: Some(
                g.root_to_parent
                    .iter()
                    .map(|n| GroupNameAndArn {
                        group_arn: Some(group_arn(c, n)),
                        group_name: Some(n.clone()),
                    })
                    .collect(),
            ),
            creation_date: Some(control_time(g.created_at)),
        }),
        index_name: None,
        query_string: None,
        query_version: None,
        status: None,
    })
}

pub(crate) async fn add_thing_to_thing_group<S: Store>(
    app: &App<S>,
    req: AddThingToThingGroupRequest,
) -> Result<AddThingToThingGroupResponse, JobsError> {
    let group = group_by_name_or_arn(&app.config, req.thing_group_name, req.thing_group_arn)?;
    let thing = thing_by_name_or_arn(&app.config, req.thing_name, req.thing_arn)?;
    app.store
        .add_thing_to_thing_group(&group, &thing, app.now())
        .await?;
    Ok(AddThingToThingGroupResponse {})
}

pub(crate) async fn remove_thing_from_thing_group<S: Store>(
    app: &App<S>,
    req: RemoveThingFromThingGroupRequest,
) -> Result<RemoveThingFromThingGroupResponse, JobsError> {
    let group = group_by_name_or_arn(&app.config, req.thing_group_name, req.thing_group_arn)?;
    let thing = thing_by_name_or_arn(&app.config, req.thing_name, req.thing_arn)?;
    app.store
        .remove_thing_from_thing_group(&group, &thing, app.now())
        .await?;
    Ok(RemoveThingFromThingGroupResponse {})
}

pub(crate) async fn list_things_in_thing_group<S: Store>(
    app: &App<S>,
    req: ListThingsInThingGroupRequest,
) -> Result<ListThingsInThingGroupResponse, JobsError> {
    let group = req.thing_group_name;
    let page = app
        .store
        .list_things_in_thing_group(
            &group,
            req.recursive.unwrap_or(false),
            page_request(req.next_token.as_deref(), req.max_results)?,
        )
        .await?;
    Ok(ListThingsInThingGroupResponse {
        things: Some(page.items),
        next_token: next_token(page.next),
    })
}

/// An `attributePayload` as the core's update: `None` when it names no attributes
/// (no payload, `{}` or only `merge`), which leaves them unchanged.
fn attribute_update(payload: Option<AttributePayload>) -> Option<AttributeUpdate> {
    let p = payload?;
    Some(AttributeUpdate {
        attributes: p.attributes?,
        merge: p.merge.unwrap_or(false),
    })
}

/// UpdateThing: type and attributes (merged or replaced), `expectedVersion` checked;
/// every success adds 1 to the version.
pub(crate) async fn update_thing<S: Store>(
    app: &App<S>,
    req: UpdateThingRequest,
) -> Result<UpdateThingResponse, JobsError> {
    let update = ThingUpdate {
        thing_type_name: req.thing_type_name,
        remove_thing_type: req.remove_thing_type.unwrap_or(false),
        attributes: attribute_update(req.attribute_payload),
    };
    update.check()?;
    app.store
        .update_thing(&req.thing_name, update, req.expected_version, app.now())
        .await?;
    Ok(UpdateThingResponse {})
}

/// UpdateThingGroup: description and attributes; answers the new version.
pub(crate) async fn update_thing_group<S: Store>(
    app: &App<S>,
    req: UpdateThingGroupRequest,
) -> Result<UpdateThingGroupResponse, JobsError> {
    let props = req.thing_group_properties;
    let update = ThingGroupUpdate {
        description: props.thing_group_description,
        attributes: attribute_update(props.attribute_payload),
    };
    let version = app
        .store
        .update_thing_group(
            &req.thing_group_name,
            update,
            req.expected_version,
            app.now(),
        )
        .await?;
    Ok(UpdateThingGroupResponse {
        version: Some(version),
    })
}

/// DeleteThingGroup: an unknown group is 200 (the model declares no
/// ResourceNotFoundException); a group with child groups is refused; members leave it.
pub(crate) async fn delete_thing_group<S: Store>(
    app: &App<S>,
    req: DeleteThingGroupRequest,
) -> Result<DeleteThingGroupResponse, JobsError> {
    app.store
        .delete_thing_group(&req.thing_group_name, req.expected_version, app.now())
        .await?;
    Ok(DeleteThingGroupResponse {})
}

/// ListThingGroups: `recursive` defaults to true (live AWS, as recorded by moto).
pub(crate) async fn list_thing_groups<S: Store>(
    app: &App<S>,
    req: ListThingGroupsRequest,
) -> Result<ListThingGroupsResponse, JobsError> {
    let filter = ThingGroupFilter {
        parent_group: req.parent_group,
        name_prefix: req.name_prefix_filter,
        recursive: req.recursive.unwrap_or(true),
    };
    let page = app
        .store
        .list_thing_groups(
            &filter,
            page_request(req.next_token.as_deref(), req.max_results)?,
        )
        .await?;
    let (thing_groups, next_token) = group_names_and_arns(&app.config, page);
    Ok(ListThingGroupsResponse {
        thing_groups,
        next_token,
    })
}

/// ListThingGroupsForThing: the groups the thing is directly in.
pub(crate) async fn list_thing_groups_for_thing<S: Store>(
    app: &App<S>,
    req: ListThingGroupsForThingRequest,
) -> Result<ListThingGroupsForThingResponse, JobsError> {
    let page = app
        .store
        .list_thing_groups_for_thing(
            &req.thing_name,
            page_request(req.next_token.as_deref(), req.max_results)?,
        )
        .await?;
    let (thing_groups, next_token) = group_names_and_arns(&app.config, page);
    Ok(ListThingGroupsForThingResponse {
        thing_groups,
        next_token,
    })
}

/// A page of group names as the `thingGroups` and `nextToken` members.
fn group_names_and_arns(
    c: &AccountConfig,
    page: Page<String>,
) -> (Option<Vec<GroupNameAndArn>>, Option<String>) {
    let groups = page
        .items
        .into_iter()
        .map(|name| GroupNameAndArn {
            group_arn: Some(group_arn(c, &name)),
            group_name: Some(name),
        })
        .collect();
    (Some(groups), next_token(page.next))
}
