"""DaData (dadata.ru) suggestions API: findById/party, suggest/party, findById/bank."""
