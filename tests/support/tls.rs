//! A test certificate authority and a `localhost` certificate signed by it.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

pub struct TestCa {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl TestCa {
    /// Writes `ca.pem`, `cert.pem` and `key.pem` into `dir`.
    pub fn create(dir: &Path) -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "loket test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key")).expect("ca cert");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned()]).expect("leaf params");
        leaf_params.distinguished_name.push(DnType::CommonName, "localhost");
        let leaf = leaf_params.signed_by(&leaf_key, &ca).expect("leaf cert");
        let this = Self { ca_file: dir.join("ca.pem"), cert_file: dir.join("cert.pem"), key_file: dir.join("key.pem") };
        std::fs::write(&this.ca_file, ca.pem()).expect("write ca");
        std::fs::write(&this.cert_file, leaf.pem()).expect("write cert");
        std::fs::write(&this.key_file, leaf_key.serialize_pem()).expect("write key");
        this
    }
}
