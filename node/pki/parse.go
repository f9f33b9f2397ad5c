package pki

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// parseCerts decodes every CERTIFICATE block of data, in order. what names
// the source in errors ("certificate /etc/gamesa/x.pem"). A private key in
// the data is refused: certificate files are world-readable.
func parseCerts(data []byte, what string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("pki: %s: block %d: %w", what, len(certs)+1, err)
			}
			certs = append(certs, c)
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			return nil, fmt.Errorf("pki: %s holds a private key (swapped certificate and key?); keep keys in their own 0600 file: %w", what, ErrNoPEM)
		}
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("pki: %s holds no PEM CERTIFICATE block: %w", what, ErrNoPEM)
	}
	return certs, nil
}

// parseKey decodes the first private key block of data: PKCS #8, SEC 1
// (EC) or PKCS #1 (RSA), so keys from other tooling work too.
func parseKey(data []byte, what string) (crypto.Signer, error) {
	sawCert := false
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		var (
			k   any
			err error
		)
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "CERTIFICATE":
			sawCert = true
			continue
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("pki: %s: %w", what, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("pki: %s: a %T cannot sign: %w", what, k, ErrNoPEM)
		}
		return s, nil
	}
	if sawCert {
		return nil, fmt.Errorf("pki: %s holds a certificate, not a private key (swapped certificate and key?): %w", what, ErrNoPEM)
	}
	return nil, fmt.Errorf("pki: %s holds no PEM private key block: %w", what, ErrNoPEM)
}

func samePublicKey(a, b crypto.PublicKey) bool {
	ak, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ak.Equal(b)
}

// checkValidAt says, with the dates, why c is not valid at now.
func checkValidAt(what, path string, c *x509.Certificate, now time.Time) error {
	if path != "" {
		what += " " + path
	}
	span := fmt.Sprintf("valid from %s to %s, now %s", stamp(c.NotBefore), stamp(c.NotAfter), stamp(now))
	switch {
	case now.Before(c.NotBefore):
		return fmt.Errorf("pki: %s (%s) is not valid yet (%s; is this clock behind?): %w", what, c.Subject.CommonName, span, ErrNotYetValid)
	case now.After(c.NotAfter):
		return fmt.Errorf("pki: %s (%s) expired on %s (%s): %w", what, c.Subject.CommonName, stamp(c.NotAfter), span, ErrExpired)
	}
	return nil
}

// verifyLeaf checks that leaf chains to roots for usage at now and turns
// x509's errors into ours, naming the files.
func verifyLeaf(leaf *x509.Certificate, intermediates []*x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage, now time.Time, certPath, caPath string) error {
	if err := checkValidAt("certificate", certPath, leaf, now); err != nil {
		return err
	}
	inter := x509.NewCertPool()
	for _, c := range intermediates {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{usage},
	})
	if err == nil {
		return nil
	}
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return fmt.Errorf("pki: certificate %s (%s, issued by %q) is not signed by the CA in %s: %w",
			certPath, leaf.Subject.CommonName, leaf.Issuer.CommonName, caPath, ErrNotSignedByCA)
	}
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.IncompatibleUsage {
		return fmt.Errorf("pki: certificate %s (%s) is not valid for %s (a CLI certificate cannot serve): %w",
			certPath, leaf.Subject.CommonName, usageName(usage), ErrWrongUsage)
	}
	return fmt.Errorf("pki: certificate %s (%s) against the CA in %s: %w", certPath, leaf.Subject.CommonName, caPath, err)
}

func usageName(u x509.ExtKeyUsage) string {
	if u == x509.ExtKeyUsageServerAuth {
		return "serving TLS"
	}
	return "TLS client authentication"
}
