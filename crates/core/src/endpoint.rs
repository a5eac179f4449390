//! DescribeEndpoint: which of this server's addresses answers each endpoint type.
//!
//! AWS answers an account's own host name, `{id}.iot.{region}.amazonaws.com` for
//! `iot:Data` and `{id}-ats.iot.{region}.amazonaws.com` for `iot:Data-ATS` (AWS CLI
//! example of `aws iot describe-endpoint`), the same on every call. iotjobs is one server
//! with one HTTP and at most one MQTT address, so it answers the `host[:port]` where
//! clients reach it for that type: the address the operator configured
//! (`serve --public-http-address`, `--public-mqtt-address`), else the one it listens on.
//! SDK samples call DescribeEndpoint first and connect where it says, so the answer must
//! be somewhere a device can connect.
//!
//! - `iot:Data` and `iot:Data-ATS`: where devices speak MQTT (AWS's device endpoint).
//!   Without MQTT, the HTTP address, where the device data plane is served.
//! - `iot:CredentialProvider`: the HTTP address. iotjobs serves no credentials provider;
//!   the address is answered so that a sample asking for it starts.
//! - `iot:Jobs` was AWS's separate host for the jobs data plane; live AWS now refuses it
//!   with InvalidRequestException pointing to `iot:Data-ATS` (wire spec §8), and so does
//!   iotjobs. HTTP data-plane clients use the server's one endpoint URL, as for `iot`.

use crate::JobsError;

/// Model `endpointType` values AWS recognizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointType {
    /// `iot:Data`: the device endpoint with a VeriSign certificate (AWS's default type).
    Data,
    /// `iot:Data-ATS`: the device endpoint with an Amazon Trust Services certificate.
    DataAts,
    /// `iot:CredentialProvider`: certificates exchanged for AWS credentials.
    CredentialProvider,
    /// `iot:Jobs`: the jobs data plane's former own host.
    Jobs,
}

impl EndpointType {
    pub const ALL: [EndpointType; 4] = [
        Self::Data,
        Self::DataAts,
        Self::CredentialProvider,
        Self::Jobs,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Data => "iot:Data",
            Self::DataAts => "iot:Data-ATS",
            Self::CredentialProvider => "iot:CredentialProvider",
            Self::Jobs => "iot:Jobs",
        }
    }

    /// DescribeEndpoint's `endpointType`: AWS's names in any letter case (AWS accepts
    /// `iot:data-ats`); absent means `iot:Data`, AWS's default. Anything else is refused
    /// with AWS's wording.
    pub fn parse(value: Option<&str>) -> Result<Self, JobsError> {
        let Some(value) = value else {
            return Ok(Self::Data);
        };
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(value))
            .ok_or_else(|| JobsError::endpoint_type_not_recognized(value))
    }
}

impl JobsError {
    /// An `endpointType` AWS does not know (AWS's message, as re:Post and moto show it).
    pub fn endpoint_type_not_recognized(value: &str) -> Self {
        Self::InvalidRequest(format!("Endpoint type {value} not recognized."))
    }

    /// `iot:Jobs`, which live AWS no longer answers (wire spec §8).
    pub fn endpoint_type_retired(endpoint_type: EndpointType) -> Self {
        Self::InvalidRequest(format!(
            "Endpoint type {} is no longer supported; use {} (the jobs data plane is served there)",
            endpoint_type.as_str(),
            EndpointType::DataAts.as_str()
        ))
    }
}

/// Where clients reach this server: `host[:port]`, as DescribeEndpoint answers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicEndpoints {
    /// The HTTP(S) listener: both AWS planes.
    pub http: String,
    /// The MQTT endpoint devices connect to, when there is one.
    pub mqtt: Option<String>,
}

impl PublicEndpoints {
    /// The address DescribeEndpoint answers for `endpoint_type` (module docs).
    pub fn address(&self, endpoint_type: EndpointType) -> Result<&str, JobsError> {
        match endpoint_type {
            EndpointType::Data | EndpointType::DataAts => {
                Ok(self.mqtt.as_deref().unwrap_or(&self.http))
            }
            EndpointType::CredentialProvider => Ok(&self.http),
            EndpointType::Jobs => Err(JobsError::endpoint_type_retired(endpoint_type)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_in_any_case_absent_is_data_others_are_refused() {
        assert_eq!(EndpointType::parse(None), Ok(EndpointType::Data));
        for t in EndpointType::ALL {
            assert_eq!(EndpointType::parse(Some(t.as_str())), Ok(t));
            let lower = t.as_str().to_ascii_lowercase();
            assert_eq!(EndpointType::parse(Some(&lower)), Ok(t));
        }
        for bad in [
            "",
            "iot:Data-ats ",
            "Data-ATS",
            "iot:data_ats",
            "iot:Jobs-ATS",
        ] {
            assert_eq!(
                EndpointType::parse(Some(bad)),
                Err(JobsError::InvalidRequest(format!(
                    "Endpoint type {bad} not recognized."
                )))
            );
        }
    }

    #[test]
    fn devices_get_the_mqtt_address_and_the_rest_the_http_one() {
        let with_mqtt = PublicEndpoints {
            http: "jobs.example:443".into(),
            mqtt: Some("devices.example:8883".into()),
        };
        let http_only = PublicEndpoints {
            mqtt: None,
            ..with_mqtt.clone()
        };
        use EndpointType::*;
        for (t, with, without) in [
            (Data, "devices.example:8883", "jobs.example:443"),
            (DataAts, "devices.example:8883", "jobs.example:443"),
            (CredentialProvider, "jobs.example:443", "jobs.example:443"),
        ] {
            assert_eq!(with_mqtt.address(t), Ok(with), "{t:?}");
            assert_eq!(http_only.address(t), Ok(without), "{t:?}");
        }
        assert!(matches!(
            with_mqtt.address(Jobs),
            Err(JobsError::InvalidRequest(m)) if m.contains("iot:Data-ATS")
        ));
    }
}
