#!/usr/bin/python3
# Adds the DNS records a test DC on loopback lacks, straight into its database (run by start.sh
# after provisioning, before samba starts):
#
#   dc1.<domain>  A 127.0.0.1   provision registers no A record for a loopback address;
#   dc0.<domain>  A 127.0.0.2   a DC that is down: nothing listens on 127.0.0.2;
#   _ldap._tcp.dc._msdcs.<domain>  SRV 0 100 389 dc0.<domain>, SRV 10 100 389 dc1.<domain>
#                               (replacing provision's one record for dc1), so discovery
#                               finds the dead DC first, as after an outage in a real domain.
#
#   dns-records.py SAM_LDB DOMAIN
import sys

import ldb
from samba.auth import system_session
from samba.ndr import ndr_pack
from samba.param import LoadParm
from samba.provision.sambadns import ARecord, SRVRecord
from samba.samdb import SamDB

sam_ldb, domain = sys.argv[1], sys.argv[2]
lp = LoadParm()
lp.load_default()
samdb = SamDB(url=sam_ldb, session_info=system_session(), lp=lp)
base = samdb.get_default_basedn()
domain_zone = "DC=%s,CN=MicrosoftDNS,DC=DomainDnsZones,%s" % (domain, base)
forest_zone = "DC=_msdcs.%s,CN=MicrosoftDNS,DC=ForestDnsZones,%s" % (domain, base)


def put(dn, records):
    msg = ldb.Message(ldb.Dn(samdb, dn))
    values = [ndr_pack(r) for r in records]
    if exists(dn):
        msg["dnsRecord"] = ldb.MessageElement(values, ldb.FLAG_MOD_REPLACE, "dnsRecord")
        samdb.modify(msg)
    else:
        msg["objectClass"] = ["top", "dnsNode"]
        msg["dnsRecord"] = ldb.MessageElement(values, ldb.FLAG_MOD_ADD, "dnsRecord")
        samdb.add(msg)


def exists(dn):
    try:
        samdb.search(base=dn, scope=ldb.SCOPE_BASE, attrs=[])
        return True
    except ldb.LdbError:
        return False


put("DC=dc1,%s" % domain_zone, [ARecord("127.0.0.1")])
put("DC=dc0,%s" % domain_zone, [ARecord("127.0.0.2")])
put("DC=_ldap._tcp.dc,%s" % forest_zone, [
    SRVRecord("dc0.%s" % domain, 389, priority=0, weight=100),
    SRVRecord("dc1.%s" % domain, 389, priority=10, weight=100),
])
