#include "tests/support/test_pki.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>

namespace pcproxy::testing {
namespace {

template <typename T, void (*Free)(T*)>
struct deleter {
  void operator()(T* p) const { Free(p); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;
using cert_ptr = std::unique_ptr<X509, deleter<X509, X509_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO, BIO_free_all>>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test PKI: ") + what + " failed");
}

key_ptr new_key() {
  key_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  check(key != nullptr, "key generation");
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, "certificate extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

cert_ptr new_cert(EVP_PKEY* key, const std::string& common_name, X509* issuer) {
  cert_ptr cert(X509_new());
  check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  static std::mt19937_64 serials{std::random_device{}()};
  ASN1_INTEGER_set_int64(X509_get_serialNumber(cert.get()), static_cast<std::int64_t>(serials() >> 2));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7 * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509* signer = issuer ? issuer : cert.get();
  if (!issuer) {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  }
  add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  return cert;
}

std::string pem_of(X509* cert) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_X509(bio.get(), cert) == 1, "PEM encoding");
  char* data = nullptr;
  const auto len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string pem_of(EVP_PKEY* key) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM key encoding");
  char* data = nullptr;
  const auto len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace

test_pki make_test_pki(const std::vector<std::string>& dns_names,
                       const std::vector<std::string>& ip_addresses) {
  auto ca_key = new_key();
  auto ca = new_cert(ca_key.get(), "pcproxy test CA", nullptr);
  check(X509_sign(ca.get(), ca_key.get(), EVP_sha256()) > 0, "CA signature");

  auto leaf_key = new_key();
  const std::string cn = dns_names.empty() ? ip_addresses.front() : dns_names.front();
  auto leaf = new_cert(leaf_key.get(), cn, ca.get());
  std::string san;
  const auto add_name = [&san](const char* kind, const std::string& value) {
    if (!san.empty()) san += ',';
    san += kind;
    san += value;
  };
  for (const auto& d : dns_names) add_name("DNS:", d);
  for (const auto& ip : ip_addresses) add_name("IP:", ip);
  add_extension(leaf.get(), ca.get(), NID_subject_alt_name, san);
  add_extension(leaf.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(leaf.get(), ca.get(), NID_ext_key_usage, "serverAuth");
  check(X509_sign(leaf.get(), ca_key.get(), EVP_sha256()) > 0, "leaf signature");

  return {pem_of(ca.get()), pem_of(leaf.get()), pem_of(leaf_key.get())};
}

std::string write_temp_file(const std::string& name_hint, const std::string& content) {
  static std::mt19937_64 names{std::random_device{}()};
  const auto path = std::filesystem::temp_directory_path() /
                    ("pcproxy-test-" + std::to_string(names()) + "-" + name_hint);
  std::ofstream out(path, std::ios::binary);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path.string());
  return path.string();
}

}  // namespace pcproxy::testing
