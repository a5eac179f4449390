//! DescribeEndpoint: where clients reach this server, per endpoint type. Which address
//! answers which type is `iotjobs_core::endpoint`'s rule; the addresses are the server's
//! configuration (`AccountConfig::endpoints`).

use crate::app::App;
use iotjobs_core::endpoint::EndpointType;
use iotjobs_core::{JobsError, Store};
use iotjobs_model::generated::iot::{DescribeEndpointRequest, DescribeEndpointResponse};

pub(crate) async fn describe_endpoint<S: Store>(
    app: &App<S>,
    req: DescribeEndpointRequest,
) -> Result<DescribeEndpointResponse, JobsError> {
    let endpoint_type = EndpointType::parse(req.endpoint_type.as_deref())?;
    Ok(DescribeEndpointResponse {
        endpoint_address: Some(app.config.endpoints.address(endpoint_type)?.to_owned()),
    })
}
