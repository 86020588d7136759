#include "tools/metrics_http.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio.hpp>
#include <thread>

namespace kvstash::cli {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kMaxRequestBytes = 8192;
constexpr int kIoTimeoutSeconds = 2;

std::string Response(const char* status, const std::string& type, const std::string& body) {
  return std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         body;
}

}  // namespace

struct MetricsHttpServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::function<std::string()> render;
  std::thread thread;

  void Accept() {
    acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) Serve(socket);
      Accept();
    });
  }

  // Blocking, with socket timeouts: a scrape is small and there is one
  // scraper; a client that stalls holds the next scrape for 2 s at most.
  void Serve(tcp::socket& socket) {
    timeval tv{kIoTimeoutSeconds, 0};
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    std::string request;
    char buf[1024];
    boost::system::error_code ec;
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < kMaxRequestBytes) {
      const size_t n = socket.read_some(asio::buffer(buf), ec);
      if (ec) return;
      request.append(buf, n);
    }
    const std::string line = request.substr(0, request.find("\r\n"));
    std::string reply;
    if (line.rfind("GET ", 0) != 0) {
      reply = Response("405 Method Not Allowed", "text/plain", "only GET\n");
    } else {
      const size_t end = line.find(' ', 4);
      const std::string path = line.substr(4, end == std::string::npos ? end : end - 4);
      if (path == "/metrics" || path == "/") {
        reply = Response("200 OK", "text/plain; version=0.0.4; charset=utf-8", render());
      } else {
        reply = Response("404 Not Found", "text/plain", "metrics are at /metrics\n");
      }
    }
    asio::write(socket, asio::buffer(reply), ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }
};

MetricsHttpServer::MetricsHttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsHttpServer::~MetricsHttpServer() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Result<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& host, uint16_t port, std::function<std::string()> render) {
  auto impl = std::make_unique<Impl>();
  impl->render = std::move(render);
  const std::string where = host + ":" + std::to_string(port);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return Status::InvalidArgument("metrics: bad address '" + host + "'");
  const tcp::endpoint endpoint(address, port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(16, ec);
  if (ec) return Status::IOError("metrics: listen on " + where + ": " + ec.message());
  impl->Accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<MetricsHttpServer>(new MetricsHttpServer(std::move(impl)));
}

uint16_t MetricsHttpServer::port() const {
  boost::system::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

}  // namespace kvstash::cli
