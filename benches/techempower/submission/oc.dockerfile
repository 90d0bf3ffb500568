FROM rust:1.95

# The oc workspace (laid out by benches/techempower/scripts/package-submission.sh).
ADD ./ /oc
WORKDIR /oc

RUN RUSTFLAGS="-C target-cpu=native" cargo build --release -p oc-techempower

ENV DATABASE_URL=postgres://benchmarkdbuser:benchmarkdbpass@tfb-database:5432/hello_world
EXPOSE 8080

CMD ["/oc/target/release/oc-techempower", "--port", "8080"]
