module mocket.test/seccompclient

go 1.19
