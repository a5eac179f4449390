//! Thing registry operations.

use super::convert::{required, thing_arn};
use crate::generated::iot::{
    CreateThingRequest, CreateThingResponse, DescribeThingRequest, DescribeThingResponse,
};
use crate::server::App;
use iotjobs_core::error::ResourceKind;
use iotjobs_core::{JobsError, NewThing, Store};

/// CreateThing: repeating it with the same configuration returns the existing thing;
/// another configuration under the same name is ResourceAlreadyExistsException (model
/// doc of CreateThing).
pub(crate) async fn create_thing<S: Store>(
    app: &App<S>,
    req: CreateThingRequest,
) -> Result<CreateThingResponse, JobsError> {
    let new = NewThing {
        thing_name: required(req.thing_name, "thingName")?,
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
        return Err(JobsError::AlreadyExists {
            message: format!(
                "Thing {} already exists with different attributes",
                thing.thing_name
            ),
            kind: ResourceKind::Thing,
            name: thing.thing_name,
            resource_id: thing.thing_id,
        });
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
    let name = required(req.thing_name, "thingName")?;
    let thing = app
        .store
        .describe_thing(&name)
        .await?
        .ok_or_else(|| JobsError::NotFound(format!("Thing {name} cannot be found.")))?;
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
