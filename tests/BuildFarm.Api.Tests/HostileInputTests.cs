using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace BuildFarm.Api.Tests;

/// <summary>
/// Issue 12 §1-2: requests that once crashed, hung or exhausted the API, or made the farm read its own files, each as a
/// test; then a seeded fuzz run of thousands of hostile requests (<see cref="Fuzz_HostileRequests_NeverAccepted_No5xx_BoundedTimeAndMemory"/>)
/// and of malformed HTTP framing over a raw socket against a real Kestrel listener. Set <c>BUILDFARM_FUZZ_SEED</c> to
/// replay a run; a failure prints its seed and case.
/// </summary>
public sealed class HostileInputTests
{
    private const string Git = "git://github.com/acme/monorepo.git#main";

    public static TheoryData<string, string> IdRoutes()
    {
        var data = new TheoryData<string, string>();
        foreach (var id in new[] { "%20", "%09", "%0A", "%C2%A0", "%E3%80%80", "a%20b", "-x", "%F0%9F%92%A5" })
        {
            foreach (var route in new[] { "GET /v1/builds/{0}", "GET /v1/batches/{0}", "GET /v1/builds/{0}/events", "GET /v1/batches/{0}/events", "DELETE /v1/builds/{0}", "DELETE /v1/batches/{0}" })
            {
                data.Add(route, id);
            }
        }
        return data;
    }

    /// <summary>Before the fix: 500 (the store's ThrowIfNullOrWhiteSpace) for whitespace ids on every route.</summary>
    [Theory]
    [MemberData(nameof(IdRoutes))]
    public async Task BadIds_OnEveryIdRoute_Are400NamingId(string route, string id)
    {
        await using var api = new ApiFactory();
        var (method, path) = (route.Split(' ')[0], string.Format(System.Globalization.CultureInfo.InvariantCulture, route.Split(' ')[1], id));
        using var response = await api.Http().SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "id");
    }

    /// <summary>Before the fix: 500 (the store's ContinueToken.Decode threw).</summary>
    [Theory]
    [InlineData("abc")]
    [InlineData("")]
    [InlineData("%E3%80%80")]
    [InlineData("fHw")] // base64url of "||": not a sort key
    public async Task BadContinueTokens_Are400NamingContinue(string token)
    {
        await using var api = new ApiFactory();
        using var response = await api.Http().GetAsync(new Uri($"/v1/builds?continue={token}", UriKind.Relative));

        if (token.Length == 0 && response.StatusCode == HttpStatusCode.OK)
        {
            return; // an empty parameter binds as absent: the first page
        }
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "continue");
    }

    /// <summary>Before the fix: 202, then the worker's timer threw and the build stayed queued.</summary>
    [Fact]
    public async Task DeadlineBeyondTheMaximum_Is400NamingDeadline()
    {
        await using var api = new ApiFactory();
        using var far = await PostJsonAsync(api, "/v1/builds", $$$"""{"spec":{"context":"{{{Git}}}","destinations":["registry.example.com/a:1"]},"deadline":"2099-01-01T00:00:00Z"}""");
        await AssertProblemAsync(far, HttpStatusCode.BadRequest, "deadline");
        using var batch = await PostJsonAsync(api, "/v1/batches",
            $$$"""{"deadline":"2099-01-01T00:00:00Z","images":[{"name":"a","spec":{"context":"{{{Git}}}","destinations":["registry.example.com/a:1"]} }]}""");
        await AssertProblemAsync(batch, HttpStatusCode.BadRequest, "deadline");

        var soon = DateTimeOffset.UtcNow.AddDays(6).ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        using var ok = await PostJsonAsync(api, "/v1/builds", $$$"""{"spec":{"context":"{{{Git}}}","destinations":["registry.example.com/a:1"]},"deadline":"{{{soon}}}"}""");
        Assert.Equal(HttpStatusCode.Accepted, ok.StatusCode);
    }

    /// <summary>Before the fix: <c>1e999999999</c> took 11.8 GB and no answer, <c>1e30000000</c> 52 s of CPU (Kubernetes'
    /// quantity parser builds the BigInteger); <c>1e3000000</c> took 6.8 s.</summary>
    [Theory]
    [InlineData("memoryLimit", "1e999999999")]
    [InlineData("cpuRequest", "1e30000000")]
    [InlineData("cpuLimit", "1e3000000")]
    [InlineData("memoryRequest", "99999999999999999999999999999999Ei")]
    [InlineData("memoryLimit", "1e-999999999")]
    [InlineData("ephemeralStorageLimit", "2Ei")]
    [InlineData("cpuLimit", "65")]
    [InlineData("memoryLimit", "0.0000000000000000000000000000001")]
    public async Task HugeOrTinyQuantities_Are400NamingTheField_Fast(string field, string quantity)
    {
        await using var api = new ApiFactory();
        await api.Http().GetAsync(new Uri("/healthz", UriKind.Relative)); // the host's start is not what is timed
        var started = Stopwatch.StartNew();
        using var response = await PostJsonAsync(api, "/v1/builds",
            $$$"""{"spec":{"context":"{{{Git}}}","destinations":["registry.example.com/a:1"],"resources":{"{{{field}}}":"{{{quantity}}}"} } }""");

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, $"spec.resources.{field}");
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"took {started.Elapsed}");
    }

    /// <summary>Before the fix: 202, and the worker's preflight quoted /proc/self/environ in BuildFailed.Detail.</summary>
    [Theory]
    [InlineData("dir:///proc/self", "environ")]
    [InlineData("dir:///", "etc/passwd")]
    [InlineData("dir:///var/run/secrets/kubernetes.io/serviceaccount", "token")]
    [InlineData("dir:///srv/contexts/../../proc/self", "environ")]
    public async Task DirContexts_WithoutAllowedRoots_Are400NamingContext(string context, string dockerfile)
    {
        await using var api = new ApiFactory();
        using var response = await PostJsonAsync(api, "/v1/builds",
            $$$"""{"spec":{"context":"{{{context}}}","dockerfile":"{{{dockerfile}}}","destinations":["registry.example.com/a:1"]} }""");

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "spec.context");
        Assert.Empty(api.Published.Messages);
    }

    [Fact]
    public async Task DirContexts_OnlyUnderAnAllowedRoot_OnceLinksAreResolved()
    {
        var root = Directory.CreateTempSubdirectory("bf-api-roots-");
        try
        {
            Directory.CreateDirectory(Path.Combine(root.FullName, "app"));
            File.CreateSymbolicLink(Path.Combine(root.FullName, "proc"), "/proc/self");
            await using var api = new ApiFactory(new() { ["Api:AllowedContextRoots:0"] = root.FullName });

            using var inside = await PostJsonAsync(api, "/v1/builds", $$$"""{"spec":{"context":"dir://{{{root.FullName}}}/app","destinations":["registry.example.com/a:1"]} }""");
            using var link = await PostJsonAsync(api, "/v1/builds",
                $$$"""{"spec":{"context":"dir://{{{root.FullName}}}/proc","dockerfile":"environ","destinations":["registry.example.com/a:1"]} }""");
            using var outside = await PostJsonAsync(api, "/v1/builds", """{"spec":{"context":"dir:///proc/self","dockerfile":"environ","destinations":["registry.example.com/a:1"]}}""");

            Assert.Equal(HttpStatusCode.Accepted, inside.StatusCode);
            await AssertProblemAsync(link, HttpStatusCode.BadRequest, "spec.context");
            await AssertProblemAsync(outside, HttpStatusCode.BadRequest, "spec.context");
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    /// <summary>Before the fix: a manifest whose key contains itself, or 40,000 nested '[', killed the process (stack
    /// overflow); an alias chain used as a key pinned a core. Each is now a 400 naming <c>manifest</c>, at once.</summary>
    [Theory]
    [MemberData(nameof(HostileManifests))]
    public async Task HostileManifests_Are400NamingManifest_Fast(string name, string yaml)
    {
        await using var api = new ApiFactory();
        await api.Http().GetAsync(new Uri("/healthz", UriKind.Relative));
        var started = Stopwatch.StartNew();
        using var content = new StringContent(yaml, Encoding.UTF8, "application/yaml");
        using var response = await api.Http().PostAsync(new Uri("/v1/batches?sha=0123456789abcdef0123456789abcdef01234567", UriKind.Relative), content);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, null);
        Assert.True(problem.Errors.Keys.Any(k => k.StartsWith("manifest", StringComparison.Ordinal)), $"{name}: {string.Join(", ", problem.Errors.Keys)}");
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"{name} took {started.Elapsed}");
    }

    public static TheoryData<string, string> HostileManifests() => new()
    {
        { "self-containing key", "images:\n  - ? &k [*k]\n    : x\n" },
        { "40000 nested lists", "images: " + new string('[', 40_000) + new string(']', 40_000) + "\n" },
        { "40000 nested mappings", "images: " + string.Concat(Enumerable.Repeat("{a: ", 40_000)) + "x" + new string('}', 40_000) + "\n" },
        { "alias chain as key", AliasChain(20, asKey: true) },
        { "alias bomb as value", AliasChain(9, asKey: false) },
        { "complex key", "images:\n  - {? {a: b} : c}\n" },
    };

    /// <summary>a0 is 10 scalars, a(i) 10 aliases of a(i-1): 10^levels nodes once expanded, a kilobyte as written.</summary>
    public static string AliasChain(int levels, bool asKey)
    {
        var yaml = new StringBuilder("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (var i = 1; i < levels; i++)
        {
            yaml.Append(CultureInfoFormat($"a{i}: &a{i} [")).Append(string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10))).Append("]\n");
        }
        yaml.Append(asKey ? $"images:\n  - ? *a{levels - 1}\n    : y\n" : $"images:\n  - name: x\n    labels: *a{levels - 1}\n");
        return yaml.ToString();
    }

    private static string CultureInfoFormat(FormattableString s) => FormattableString.Invariant(s);

    /// <summary>Before the fix: a chunk size line of 18 hex digits answered 500.</summary>
    [Theory]
    [InlineData("ffffffffffffffffff")]
    [InlineData("zz")]
    [InlineData("-1")]
    [InlineData("10;" + "x")]
    public async Task MalformedChunkedBody_OverARealSocket_Is4xx(string sizeLine)
    {
        await using var server = await KestrelServer.StartAsync();
        var status = await server.SendRawAsync(
            "POST /v1/builds HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + ApiFactory.AdminKey + "\r\n"
            + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + sizeLine + "\r\nabc\r\n0\r\n\r\n");

        Assert.NotNull(status);
        Assert.InRange(status.Value, 400, 499);
    }

    // ------------------------------------------------------------------------------------------------------------
    // The fuzz run.
    // ------------------------------------------------------------------------------------------------------------

    private const int FuzzCases = 3000;
    private const int RawCases = 200;

    [Fact]
    public async Task Fuzz_HostileRequests_NeverAccepted_No5xx_BoundedTimeAndMemory()
    {
        var seed = Seed();
        var random = new Random(seed);
        await using var api = new ApiFactory(new() { ["Api:AllowedDestinations:0"] = "registry.example.com/**" });
        var http = api.Http();
        await http.GetAsync(new Uri("/healthz", UriKind.Relative)); // warm up before measuring
        GC.Collect();
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
        var started = Stopwatch.StartNew();
        var slowest = TimeSpan.Zero;
        for (var i = 0; i < FuzzCases; i++)
        {
            var fuzz = FuzzCase.Next(random);
            using var request = fuzz.ToRequest();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var one = Stopwatch.StartNew();
            HttpResponseMessage response;
            try
            {
                response = await http.SendAsync(request, timeout.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"seed {seed} case {i} ({fuzz}): no answer within 10 s");
                return;
            }
            using (response)
            {
                slowest = one.Elapsed > slowest ? one.Elapsed : slowest;
                var status = (int)response.StatusCode;
                var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                Assert.True(status < 500, $"seed {seed} case {i} ({fuzz}): {status} {Truncate(body)}");
                if (fuzz.Hostile)
                {
                    Assert.True(status is >= 400 and < 500, $"seed {seed} case {i} ({fuzz}): hostile request answered {status} {Truncate(body)}");
                }
                if (status >= 400 && status != 401 && status != 405)
                {
                    Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json",
                        $"seed {seed} case {i} ({fuzz}): {status} as {response.Content.Headers.ContentType}");
                }
            }
        }
        var elapsed = started.Elapsed;
        var memoryAfter = GC.GetTotalMemory(forceFullCollection: true);
        // Accepted builds stay in the in-memory store; what must not happen is a request that grows memory by itself.
        Assert.True(memoryAfter - memoryBefore < 256L * 1024 * 1024, $"seed {seed}: managed memory grew by {(memoryAfter - memoryBefore) / 1024 / 1024} MB");
        Assert.True(elapsed < TimeSpan.FromSeconds(120), $"seed {seed}: {FuzzCases} cases took {elapsed}");
        Console.WriteLine($"hostile fuzz: seed {seed}, {FuzzCases} cases in {elapsed.TotalSeconds:0.0} s, slowest {slowest.TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task Fuzz_MalformedFraming_OverARealSocket_Never5xx()
    {
        var seed = Seed();
        var random = new Random(seed);
        await using var server = await KestrelServer.StartAsync();
        var started = Stopwatch.StartNew();
        var answered = 0;
        for (var i = 0; i < RawCases; i++)
        {
            var (raw, halfClose) = RawCase(random);
            var status = await server.SendRawAsync(raw, halfClose);
            // No answer (Kestrel closed the connection) is fine; an answer must not be a 5xx.
            Assert.True(status is null or < 500, $"seed {seed} raw case {i}: {status} for {Truncate(raw)}");
            answered += status is null ? 0 : 1;
        }
        Assert.True(answered > RawCases / 2, $"seed {seed}: only {answered} of {RawCases} raw cases were answered");
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(120), $"seed {seed}: {RawCases} raw cases took {started.Elapsed}");
        Console.WriteLine($"hostile framing fuzz: seed {seed}, {RawCases} cases in {started.Elapsed.TotalSeconds:0.0} s");
    }

    private static int Seed() =>
        int.TryParse(Environment.GetEnvironmentVariable("BUILDFARM_FUZZ_SEED"), out var seed) ? seed : 20261205;

    private static string Truncate(string s) => s.Length > 300 ? s[..300] + "…" : s;

    private static (string Raw, bool HalfClose) RawCase(Random random)
    {
        var body = """{"spec":{"context":"git://github.com/acme/monorepo.git#main","destinations":["registry.example.com/a:1"]}}""";
        var head = "POST /v1/builds HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + ApiFactory.AdminKey + "\r\nContent-Type: application/json\r\n";
        var kind = random.Next(8);
        return (kind switch
        {
            0 => head + "Transfer-Encoding: chunked\r\n\r\n" + RandomHex(random, random.Next(1, 40)) + "\r\n" + body + "\r\n0\r\n\r\n",
            1 => head + "Transfer-Encoding: chunked\r\n\r\n" + random.Next(1, 100).ToString("x", System.Globalization.CultureInfo.InvariantCulture) + ";" + new string('x', random.Next(0, 5000)) + "\r\n" + body + "\r\n0\r\n\r\n",
            2 => head + "Content-Length: " + (body.Length + random.Next(1, 1000)).ToString(System.Globalization.CultureInfo.InvariantCulture) + "\r\n\r\n" + body,
            3 => head + "Content-Length: " + RandomHex(random, random.Next(1, 30)) + "\r\n\r\n" + body,
            4 => head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + "zz\r\n",
            5 => head + "Transfer-Encoding: chunked\r\n\r\n" + "5\r\nabcdefgh\r\n0\r\n\r\n",
            6 when random.Next(4) == 0 => "GET /v1/builds/%00 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + ApiFactory.AdminKey + "\r\n\r\n",
            6 => "GET /v1/builds/" + RandomGarbage(random, random.Next(1, 50)) + " HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + ApiFactory.AdminKey + "\r\n\r\n",
            _ => head + "X-Junk: " + RandomGarbage(random, random.Next(1, 200)) + "\r\nContent-Length: 2\r\n\r\n{}",
        }, kind == 2);
    }

    private static string RandomHex(Random random, int length) =>
        string.Concat(Enumerable.Range(0, length).Select(_ => "0123456789abcdefABCDEFxyz-+ "[random.Next(28)]));

    private static string RandomGarbage(Random random, int length) =>
        new(Enumerable.Range(0, length).Select(_ => (char)random.Next(0x21, 0x7f)).ToArray());

    private static Task<HttpResponseMessage> PostJsonAsync(ApiFactory api, string path, string json) =>
        api.Http().PostAsync(new Uri(path, UriKind.Relative), new StringContent(json, Encoding.UTF8, "application/json"));

    private sealed record Problem(int Status, Dictionary<string, string[]> Errors);

    private static async Task<Problem> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string? field)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {Truncate(body)}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var json = JsonNode.Parse(body)!.AsObject();
        var errors = json["errors"] is JsonObject e
            ? e.ToDictionary(p => p.Key, p => p.Value!.AsArray().Select(v => v!.GetValue<string>()).ToArray(), StringComparer.Ordinal)
            : [];
        if (field is not null)
        {
            Assert.True(errors.ContainsKey(field), $"errors {string.Join(", ", errors.Keys)} do not name {field}: {Truncate(body)}");
        }
        return new Problem((int)response.StatusCode, errors);
    }

    /// <summary>The real API host on a Kestrel listener (127.0.0.1, a free port), for what only a socket can send.</summary>
    private sealed class KestrelServer : IAsyncDisposable
    {
        private readonly ApiFactory _factory;

        private KestrelServer(ApiFactory factory, Uri address) => (_factory, Address) = (factory, address);

        public Uri Address { get; }

        public static Task<KestrelServer> StartAsync()
        {
            var factory = new ApiFactory();
            factory.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
            factory.StartServer();
            var addresses = factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
            return Task.FromResult(new KestrelServer(factory, new Uri(addresses.First())));
        }

        /// <summary>Sends <paramref name="raw"/> on a new connection; the status code of the answer, or null when the server
        /// closed the connection without one. Fails after 10 s without either.</summary>
        public async Task<int?> SendRawAsync(string raw, bool halfClose = false)
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await client.ConnectAsync(Address.Host, Address.Port, timeout.Token);
            var stream = client.GetStream();
            try
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes(raw), timeout.Token);
                if (halfClose)
                {
                    // End of input: a body shorter than its Content-Length ends at once, not after Kestrel's body
                    // timeout (Kestrel then closes without an answer, as the client is gone).
                    client.Client.Shutdown(SocketShutdown.Send);
                }
            }
            catch (Exception e) when (e is IOException or SocketException)
            {
                // The server may close before reading everything; its answer (if any) is still to be read.
            }
            var buffer = new byte[256];
            var read = 0;
            try
            {
                while (read < 12)
                {
                    var n = await stream.ReadAsync(buffer.AsMemory(read), timeout.Token);
                    if (n == 0)
                    {
                        break;
                    }
                    read += n;
                }
            }
            catch (IOException)
            {
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"no answer and no close within 10 s for {Truncate(raw)}");
            }
            var line = Encoding.ASCII.GetString(buffer, 0, read);
            return line.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) && line.Length >= 12
                && int.TryParse(line.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture, out var status) ? status : null;
        }

        public async ValueTask DisposeAsync() => await _factory.DisposeAsync();
    }
}

/// <summary>One generated request: a mutation of a valid one, or one of the hostile categories (which must be refused).</summary>
internal sealed record FuzzCase(string Kind, HttpMethod Method, string Path, string? ContentType, byte[]? Body, bool Hostile)
{
    private const string Git = "git://github.com/acme/monorepo.git#main";

    private static readonly string[] HostileStrings =
    [
        " ", "\t", "\n", "\u00a0", "\u3000", "\0", "\u202e", "../../etc/passwd", "dir:///proc/self", "%00", "${HOME}",
        new string('a', 5000), "\u0085", "\ufeff", "a\nb", "'; DROP TABLE builds; --", "\u200b", "🙂",
    ];

    private static readonly string[] HugeNumbers =
    [
        "1e999999999", "1e30000000", "9".PadRight(400, '9'), "1e-999999999", "-1", "0", "1e309", "99999999999999999999Ei", "0x10",
        "1" + new string('0', 40), ".", "e5", "5e", "+", "1Ki2", "NaN", "Infinity", "1e18Ei",
    ];

    public override string ToString() =>
        $"{Kind}: {Method} {Path} {ContentType} {(Body is null ? "" : Encoding.UTF8.GetString(Body[..Math.Min(Body.Length, 200)]))}";

    public HttpRequestMessage ToRequest()
    {
        var request = new HttpRequestMessage(Method, Path);
        if (Body is not null)
        {
            request.Content = new ByteArrayContent(Body);
            request.Content.Headers.TryAddWithoutValidation("Content-Type", ContentType ?? "application/json");
        }
        return request;
    }

    public static FuzzCase Next(Random random) => random.Next(10) switch
    {
        0 => BadId(random),
        1 => BadList(random),
        2 => Quantity(random),
        3 => Deadline(random),
        4 => DirContext(random),
        5 => Manifest(random),
        6 => DeepJson(random),
        7 => BatchMutation(random),
        _ => BuildMutation(random),
    };

    private static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];

    private static string RandomUnicode(Random random, int length)
    {
        var chars = new char[length];
        for (var i = 0; i < length; i++)
        {
            chars[i] = random.Next(4) switch
            {
                0 => (char)random.Next(0, 0x20),
                1 => (char)random.Next(0x80, 0x3100),
                2 => " \t\u00a0\u3000\u2028\u2029\u200b\ufeff"[random.Next(8)],
                _ => (char)random.Next(0x20, 0x7f),
            };
        }
        return new string(chars);
    }

    private static FuzzCase BadId(Random random)
    {
        // %00 is left out: TestServer's path decoder throws on it (Kestrel answers 400 itself; see the raw socket cases).
        var id = Uri.EscapeDataString(random.Next(3) == 0 ? Pick(random, HostileStrings) : RandomUnicode(random, random.Next(1, 40))).Replace("%00", "%01", StringComparison.Ordinal);
        if (id.Length == 0 || id is "." or "..")
        {
            id = "%20";
        }
        var (method, template) = Pick(random, new[]
        {
            ("GET", "/v1/builds/{0}"), ("GET", "/v1/batches/{0}"), ("GET", "/v1/builds/{0}/events"), ("GET", "/v1/batches/{0}/events"), ("DELETE", "/v1/builds/{0}"), ("DELETE", "/v1/batches/{0}"),
        });
        // An id of the valid form is unknown (404), any other is refused (400): either way a 4xx.
        return new FuzzCase("id", new HttpMethod(method), string.Format(System.Globalization.CultureInfo.InvariantCulture, template, id), null, null, Hostile: true);
    }

    private static FuzzCase BadList(Random random)
    {
        var name = Pick(random, new[] { "continue", "limit", "state", "batch" });
        var value = random.Next(2) == 0 ? Pick(random, HostileStrings.Concat(HugeNumbers).ToArray()) : RandomUnicode(random, random.Next(1, 60));
        // limit=0 / state=... are refused; an empty value may bind as absent (200): not counted as hostile.
        return new FuzzCase("list", HttpMethod.Get, $"/v1/builds?{name}={Uri.EscapeDataString(value)}", null, null, Hostile: false);
    }

    private static byte[] Json(JsonNode node) => Encoding.UTF8.GetBytes(node.ToJsonString());

    private static JsonObject ValidSpec(Random random) => new()
    {
        ["context"] = Git,
        ["destinations"] = new JsonArray($"registry.example.com/team/app{random.Next(1000)}:1"),
    };

    private static FuzzCase Quantity(Random random)
    {
        var spec = ValidSpec(random);
        var field = Pick(random, new[] { "cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit", "ephemeralStorageLimit" });
        spec["resources"] = new JsonObject { [field] = Pick(random, HugeNumbers) };
        return new FuzzCase("quantity", HttpMethod.Post, "/v1/builds", "application/json", Json(new JsonObject { ["spec"] = spec }), Hostile: true);
    }

    private static FuzzCase Deadline(Random random)
    {
        var deadline = Pick(random, new[]
        {
            "2099-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2000-01-01T00:00:00Z",
            DateTimeOffset.UtcNow.AddDays(8 + random.Next(1000)).ToString("O", System.Globalization.CultureInfo.InvariantCulture), "not a date", "",
        });
        var body = new JsonObject { ["spec"] = ValidSpec(random), ["deadline"] = deadline };
        return new FuzzCase("deadline", HttpMethod.Post, "/v1/builds", "application/json", Json(body), Hostile: true);
    }

    private static FuzzCase DirContext(Random random)
    {
        var spec = ValidSpec(random);
        spec["context"] = Pick(random, new[]
        {
            "dir:///proc/self", "dir:///", "dir:///etc", "dir:///var/run/secrets/kubernetes.io/serviceaccount", "dir:///workspace",
            "dir:///tmp/../proc/1", "dir:///proc/self/root/etc", "dir://" + RandomUnicode(random, 10),
        });
        spec["dockerfile"] = Pick(random, new[] { "environ", "Dockerfile", "token", "passwd", "../environ", "cmdline" });
        return new FuzzCase("dir", HttpMethod.Post, "/v1/builds", "application/json", Json(new JsonObject { ["spec"] = spec }), Hostile: true);
    }

    private static FuzzCase Manifest(Random random)
    {
        var depth = random.Next(33, 5000);
        var yaml = random.Next(6) switch
        {
            0 => "images: " + new string('[', depth) + new string(']', depth),
            1 => "images: " + string.Concat(Enumerable.Repeat("{a: ", depth)) + "x" + new string('}', depth),
            2 => HostileInputTests.AliasChain(random.Next(6, 25), asKey: random.Next(2) == 0),
            3 => "images:\n  - ? &k [*k]\n    : x\n",
            4 => "images:\n" + string.Concat(Enumerable.Repeat("  - " + new string('[', 40) + new string(']', 40) + "\n", random.Next(1, 50))),
            _ => "images:\n  - ? " + Pick(random, new[] { "[a, b]", "{a: b}", "&x [y]" }) + "\n    : x\n",
        };
        var query = "/v1/batches?sha=0123456789abcdef0123456789abcdef01234567";
        return new FuzzCase("manifest", HttpMethod.Post, query, "application/yaml", Encoding.UTF8.GetBytes(yaml), Hostile: true);
    }

    private static FuzzCase DeepJson(Random random)
    {
        var depth = random.Next(65, 20_000);
        var body = "{\"spec\":" + new string('[', depth) + new string(']', depth) + "}";
        return new FuzzCase("deep json", HttpMethod.Post, random.Next(2) == 0 ? "/v1/builds" : "/v1/batches", "application/json", Encoding.UTF8.GetBytes(body), Hostile: true);
    }

    private static FuzzCase BatchMutation(Random random)
    {
        var images = new JsonArray();
        var count = random.Next(3) == 0 ? random.Next(1001, 1500) : random.Next(1, 5);
        for (var i = 0; i < count; i++)
        {
            images.Add(new JsonObject { ["name"] = $"img{i}", ["spec"] = ValidSpec(random) });
        }
        var body = new JsonObject { ["images"] = images };
        var hostile = count > 1000;
        if (random.Next(2) == 0)
        {
            var first = images[0]!.AsObject();
            hostile |= Mutate(random, first["spec"]!.AsObject());
        }
        return new FuzzCase("batch", HttpMethod.Post, "/v1/batches", "application/json", Json(body), hostile);
    }

    private static FuzzCase BuildMutation(Random random)
    {
        var spec = ValidSpec(random);
        var hostile = Mutate(random, spec);
        var body = new JsonObject { ["spec"] = spec };
        if (random.Next(5) == 0)
        {
            body["priority"] = random.Next(2) == 0 ? random.Next(10, int.MaxValue) : -random.Next(1, int.MaxValue);
            hostile = true;
        }
        var bytes = Json(body);
        if (random.Next(10) == 0)
        {
            // Random byte damage: anything may come of it, but never a 5xx.
            bytes = [.. bytes];
            for (var i = random.Next(1, 5); i > 0; i--)
            {
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }
            hostile = false;
        }
        return new FuzzCase("build", HttpMethod.Post, "/v1/builds", "application/json", bytes, hostile);
    }

    /// <summary>Replaces one field of <paramref name="spec"/> with something hostile; true when the result must be refused.</summary>
    private static bool Mutate(Random random, JsonObject spec)
    {
        var value = random.Next(2) == 0 ? Pick(random, HostileStrings) : RandomUnicode(random, random.Next(1, 80));
        switch (random.Next(10))
        {
            case 0:
                spec["context"] = value;
                return true;
            case 1:
                spec["dockerfile"] = value;
                return false; // some odd names are valid file names; only no 5xx is asserted
            case 2:
                spec["destinations"] = new JsonArray(value);
                return true; // never a valid reference under the allow-list registry.example.com/**
            case 3:
                spec["buildArgs"] = new JsonObject { [value] = "x" };
                return !(value.Length > 0 && (char.IsAsciiLetter(value[0]) || value[0] == '_') && value.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'));
            case 4:
                spec["buildArgs"] = new JsonObject(Enumerable.Range(0, random.Next(65, 300)).Select(i => KeyValuePair.Create($"A{i}", (JsonNode?)JsonValue.Create("x"))));
                return true;
            case 5:
                spec["labels"] = new JsonObject { ["a"] = new string('x', random.Next(4097, 100_000)) };
                return true;
            case 6:
                spec["target"] = value;
                return !(value.Length is > 0 and <= 128 && char.IsAsciiLetter(value[0]) && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-'));
            case 7:
                spec["deadlineSeconds"] = random.Next(2) == 0 ? -random.Next(0, int.MaxValue) : random.Next(6 * 3600 + 1, int.MaxValue);
                return true;
            case 8:
                spec["destinations"] = new JsonArray([.. Enumerable.Range(0, random.Next(17, 200)).Select(i => (JsonNode?)JsonValue.Create($"registry.example.com/a:{i}"))]);
                return true;
            default:
                spec["platform"] = value;
                return true;
        }
    }
}
