"""Requisites auto-fill: a company's requisites by INN or name, a bank by BIK, through a
pluggable provider (base.RequisitesSource; DaData in dadata/)."""
