using TrapReplace.Tests.Shared;

namespace TrapReplace.Cli.Tests;

/// <summary>Bad arguments exit non-zero with one line naming the problem, before any training.</summary>
public sealed class BadInputTests
{
    [Theory]
    [InlineData(new[] { "run", "--attack", "nope" }, "unknown --attack 'nope'")]
    [InlineData(new[] { "run", "--ratio", "2.0" }, "--ratio must be in (0, 1]; got 2")]
    [InlineData(new[] { "run", "--defense", "magic" }, "unknown --defense 'magic'")]
    [InlineData(new[] { "run", "--profile", "huge" }, "unknown --profile 'huge'")]
    [InlineData(new[] { "run", "--target", "10" }, "--target must be in [0, 9] for cifar10; got 10")]
    [InlineData(new[] { "run", "--seed", "abc" }, "abc")]
    [InlineData(new[] { "run", "--seed", "3", "--defense-seed", "3" }, "--defense-seed 3 is the same as --seed, which the defense uses anyway; leave it out")]
    [InlineData(new[] { "run", "--defense", "none", "--defense-seed", "1" }, "--defense-seed needs a defense: defense 'none' has no randomness of its own")]
    [InlineData(new[] { "matrix", "--defense-seeds", "1,x" }, "--defense-seeds must be non-negative integers; got 'x'")]
    [InlineData(new[] { "run", "--no-such-option" }, "--no-such-option")]
    [InlineData(new[] { "matrix", "--shard", "5/4" }, "--shard must be i/n with 1 <= i <= n")]
    [InlineData(new[] { "run", "--layout", "nhwc" }, "--layout must be channels-last or nchw; got 'nhwc'")]
    [InlineData(new[] { "run", "--precision", "fp16" }, "--precision must be fp32, bf16 or auto; got 'fp16'")]
    [InlineData(new[] { "run", "--device", "gpu" }, "--device must be cpu, cuda or cuda:N; got 'gpu'")]
    [InlineData(new[] { "scan", "--untrusted", "u", "--holdout", "h", "--device", "cuda:-1" }, "--device must be cpu, cuda or cuda:N; got 'cuda:-1'")]
    [InlineData(new[] { "run", "--precision", "bf16", "--device", "cuda" }, "--precision bf16 is the CPU's bf16 autocast; --device is 'cuda'")]
    [InlineData(new[] { "matrix", "--attacks", "badnets,nope" }, "unknown --attack 'nope'")]
    [InlineData(new[] { "report", "--results", "/nonexistent/results" }, "results folder '/nonexistent/results' does not exist")]
    [InlineData(new[] { "run", "--ratio", "abc" }, "Cannot parse argument 'abc' for option '--ratio': expected a number.")]
    [InlineData(new[] { "run", "--seed", "1.5" }, "Cannot parse argument '1.5' for option '--seed': expected an integer.")]
    [InlineData(new[] { "matrix", "--shard", "" }, "--shard must be i/n with 1 <= i <= n (e.g. 3/8); got ''")]
    [InlineData(new[] { "run", "--out", "/proc/version" }, "--out '/proc/version' is a file; give a folder for the results")]
    [InlineData(new[] { "run", "--out", "/proc/trap-replace-results" }, "--out '/proc/trap-replace-results' is not a folder this process can write in")]
    public void Exits_with_code_2_and_one_line(string[] args, string expected)
    {
        var run = CliProcess.Run(args);

        run.ExitCode.Should().Be(2);
        run.ErrorLines.Should().ContainSingle().Which.Should().StartWith("error: ").And.Contain(expected);
        run.StdOut.Should().BeEmpty();
    }

    [Theory]
    [InlineData("run")]
    [InlineData("matrix")]
    public void Help_lists_every_attack_and_defense_from_the_catalogs(string command)
    {
        var help = CliProcess.Run([command, "--help"]);

        help.ExitCode.Should().Be(0, help.StdErr);
        foreach (var name in TrapReplace.Experiments.Specs.AttackName.Choices.Concat(TrapReplace.Experiments.Defenses.DefenseCatalog.Names))
            help.StdOut.Should().Contain(name);
        TrapReplace.Experiments.Defenses.DefenseCatalog.Names.Should().Contain(["trap-cleanse", "anp", "i-bau", "abl"]);
    }

    [Fact]
    public void A_data_folder_that_is_missing_or_a_file_exits_with_code_3_naming_it()
    {
        using var folder = new TempFolder();
        var file = Path.Combine(folder.Path, "not-a-folder");
        File.WriteAllText(file, "x");
        var missing = Path.Combine(folder.Path, "missing");

        foreach (var (path, says) in new[] { (file, "is a file"), (missing, "does not exist") })
        {
            var run = CliProcess.Run(["run", "--profile", "smoke", "--data", path, "--out", Path.Combine(folder.Path, "results")]);
            run.ExitCode.Should().Be(3, "missing data is exit code 3, as README says");
            run.ErrorLines.Should().ContainSingle().Which.Should().Contain($"data folder '{path}' (--data) {says}");
        }
    }

    [Fact]
    public void A_data_file_replaced_by_a_folder_is_named()
    {
        using var folder = new TempFolder();
        var batches = Path.Combine(folder.Path, "cifar-10-batches-bin");
        Directory.CreateDirectory(Path.Combine(batches, "data_batch_1.bin"));

        var run = CliProcess.Run(["run", "--profile", "smoke", "--data", folder.Path, "--out", Path.Combine(folder.Path, "results")]);

        run.ExitCode.Should().Be(3);
        run.ErrorLines.Should().ContainSingle().Which.Should().Contain(Path.Combine(batches, "data_batch_1.bin") + " is a folder, not a file")
            .And.Contain(Path.Combine(batches, "test_batch.bin") + " is missing");
    }

    [Fact]
    public void Missing_data_without_network_exits_with_code_3_and_says_what_to_do()
    {
        using var home = new TempFolder();
        // An empty cache and a mirror on a loopback port nobody listens on: the download must fail cleanly.
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var run = CliProcess.Run(["run", "--profile", "smoke", "--out", Path.Combine(home.Path, "results")], new Dictionary<string, string?>
        {
            ["HOME"] = home.Path,
            ["XDG_CACHE_HOME"] = Path.Combine(home.Path, ".cache"),
            ["TRAPREPLACE_MIRROR"] = $"http://127.0.0.1:{port}/",
        });

        run.ExitCode.Should().Be(3);
        run.ErrorLines.Should().ContainSingle().Which.Should().StartWith("error: could not download CIFAR-10 (cifar-10-binary.tar.gz)")
            .And.Contain(". Use --data DIR");
        Directory.Exists(Path.Combine(home.Path, "results")).Should().BeFalse("nothing is written when there is no data");
        Directory.Exists(Path.Combine(home.Path, ".cache", "trapreplace-data")).Should().BeFalse("a failed first download leaves no empty cache folder");
    }

    [Theory]
    [InlineData("cifar-10-binary.tar.gz=sha1:00")]
    [InlineData("cifar-10-binary.tar.gz=sha256:abc")]
    [InlineData("=sha256:0000000000000000000000000000000000000000000000000000000000000000")]
    public void A_malformed_pin_is_a_usage_error(string pin)
    {
        using var home = new TempFolder();
        var run = CliProcess.Run(["run", "--profile", "smoke", "--out", Path.Combine(home.Path, "results")], new Dictionary<string, string?>
        {
            ["HOME"] = home.Path,
            ["TRAPREPLACE_PIN"] = pin,
        });

        run.ExitCode.Should().Be(2);
        run.ErrorLines.Should().ContainSingle().Which.Should().Contain("TRAPREPLACE_PIN entries must be FILE=sha256:HEX").And.Contain(pin);
    }

    [Fact]
    public void Pins_parse_into_checksums_by_archive_name()
    {
        var pins = TrapReplace.Experiments.Specs.DataLocation.ParsePins(
            " GTSRB_Final_Test_GT.zip=sha256:" + new string('A', 64) + ", cifar-10-binary.tar.gz=md5:c32a1d4ab5d03f1284b67883e8d87530 ");
        pins.Should().HaveCount(2);
        pins["GTSRB_Final_Test_GT.zip"].Should().Be(TrapReplace.Data.FileChecksum.Sha256(new string('a', 64)));
        pins["cifar-10-binary.tar.gz"].Should().Be(TrapReplace.Data.FileChecksum.Md5("c32a1d4ab5d03f1284b67883e8d87530"));
    }
}
