using System.Text.Json;
using SkiaSharp;
using TrapReplace.Models;
using TrapReplace.Persistence;
using TrapReplace.Tests.Shared;

namespace TrapReplace.Cli.Tests;

/// <summary>The <c>scan</c> command on image folders, as a team with its own untrusted images runs it.</summary>
public sealed class FolderScanTests
{
    private static readonly string[] Classes = ["apple", "bird", "car"];

    // Colour-coded classes with noise; "poisoned" images of the other classes carry a white corner square and sit in
    // the first class's folder (dirty label). A file name with a comma checks the CSV quoting.
    private static (string Untrusted, string Holdout, List<string> Files) Folders(TempFolder root, int perClass, int holdoutPerClass)
    {
        var random = new Random(3);
        var files = new List<string>();
        void Image(string path, int cls, bool trigger)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using var bitmap = new SKBitmap(new SKImageInfo(32, 32, SKColorType.Rgba8888, SKAlphaType.Premul));
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                {
                    byte Noise(int basis) => (byte)Math.Clamp(basis + random.Next(-40, 41), 0, 255);
                    bitmap.SetPixel(x, y, trigger && x >= 27 && y >= 27 ? SKColors.White
                        : new SKColor(Noise(cls == 0 ? 200 : 40), Noise(cls == 1 ? 200 : 40), Noise(cls == 2 ? 200 : 40)));
                }
            using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(path, data.ToArray());
        }
        string untrusted = Path.Combine(root.Path, "untrusted"), holdout = Path.Combine(root.Path, "holdout");
        for (int c = 0; c < Classes.Length; c++)
        {
            for (int i = 0; i < perClass; i++)
            {
                var name = Path.Combine(Classes[c], i == 0 ? $"first, {i}.png" : $"{i:D3}.png");
                Image(Path.Combine(untrusted, name), c, trigger: false);
                files.Add(name);
            }
            for (int i = 0; i < holdoutPerClass; i++) Image(Path.Combine(holdout, Classes[c], $"{i:D3}.png"), c, trigger: false);
        }
        for (int i = 0; i < 8; i++)
        {
            var name = Path.Combine(Classes[0], $"poison-{i}.png");
            Image(Path.Combine(untrusted, name), 1 + i % 2, trigger: true);
            files.Add(name);
        }
        return (untrusted, holdout, files);
    }

    [Fact]
    public void Writes_one_row_per_untrusted_image_a_summary_that_agrees_and_a_loadable_network_and_never_overwrites_them()
    {
        using var root = new TempFolder();
        var (untrusted, holdout, files) = Folders(root, perClass: 24, holdoutPerClass: 8);
        var output = Path.Combine(root.Path, "out");
        string[] args = ["scan", "--untrusted", untrusted, "--holdout", holdout, "--out", output, "--trap-epochs", "3", "--replace-epochs", "3", "--batch-size", "16",
            "--threads", "2", "--precision", "fp32", "--quiet"];

        var run = CliProcess.Run(args);

        run.ExitCode.Should().Be(0, run.StdErr);
        run.StdErr.Should().BeEmpty("--quiet prints no progress");
        run.StdOut.Should().MatchRegex("(images suspected|no poisoned population found)");
        var lines = File.ReadAllLines(Path.Combine(output, "suspects.csv"));
        lines[0].Should().Be("index,name,given_label,score,flagged,suspected,scanning_head_label");
        lines.Should().HaveCount(1 + files.Count);
        var rows = lines.Skip(1).Select(Fields).ToList();
        rows.Select(r => r[0]).Should().Equal(Enumerable.Range(0, files.Count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        rows.Select(r => r[1]).Should().BeEquivalentTo(files, "every untrusted file, its path relative to --untrusted, commas quoted");
        rows.Should().OnlyContain(r => r[2] == r[1].Split(Path.DirectorySeparatorChar)[0], "the given label is the file's class folder");
        rows.Should().OnlyContain(r => double.IsFinite(double.Parse(r[3], System.Globalization.CultureInfo.InvariantCulture)));
        rows.Should().OnlyContain(r => Classes.Contains(r[6]));

        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "scan.json")));
        var s = summary.RootElement;
        s.GetProperty("scanned").GetInt32().Should().Be(files.Count);
        s.GetProperty("flagged").GetInt32().Should().Be(rows.Count(r => r[4] == "true"));
        s.GetProperty("suspected").GetInt32().Should().Be(rows.Count(r => r[5] == "true"));
        s.GetProperty("classes").EnumerateArray().Select(c => c.GetString()).Should().Equal(Classes);
        s.GetProperty("settings").GetProperty("trap_epochs").GetInt32().Should().Be(3);
        if (s.GetProperty("inferred_target").GetString() is { } target)
            rows.Where(r => r[5] == "true").Should().OnlyContain(r => r[2] == target, "suspects carry the inferred target's label");
        else
            rows.Should().NotContain(r => r[5] == "true", "without a target nothing is suspected");

        using (var network = ModelFile.Load(new WideResNet16Backbone(Classes.Length), Path.Combine(output, "defended.model")))
            network.ClassCount.Should().Be(Classes.Length);

        var again = CliProcess.Run(args);
        again.ExitCode.Should().Be(2);
        again.ErrorLines.Should().ContainSingle().Which.Should().Contain("already exists").And.Contain("never overwritten");
        File.ReadAllLines(Path.Combine(output, "suspects.csv")).Should().Equal(lines, "the finished scan is kept");
    }

    [Fact]
    public void With_cleanse_the_summary_says_which_network_was_kept_and_the_table_is_the_same_shape()
    {
        using var root = new TempFolder();
        var (untrusted, holdout, files) = Folders(root, perClass: 24, holdoutPerClass: 8);
        var output = Path.Combine(root.Path, "out");

        var run = CliProcess.Run(["scan", "--untrusted", untrusted, "--holdout", holdout, "--out", output, "--trap-epochs", "3", "--replace-epochs", "3",
            "--batch-size", "16", "--threads", "2", "--precision", "fp32", "--cleanse"]);

        run.ExitCode.Should().Be(0, run.StdErr);
        run.StdErr.Should().Contain("scanning and cleansing the stem");
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "scan.json")));
        summary.RootElement.GetProperty("settings").GetProperty("cleanse").GetBoolean().Should().BeTrue();
        var cleansing = summary.RootElement.GetProperty("cleansing").GetString();
        cleansing.Should().MatchRegex("^(cleansed: |Trap and Replace kept: )");
        run.StdOut.Should().Contain(cleansing);
        File.ReadAllLines(Path.Combine(output, "suspects.csv")).Should().HaveCount(1 + files.Count);
        File.Exists(Path.Combine(output, "defended.model")).Should().BeTrue();
    }

    [Fact]
    public void Folders_that_cannot_work_are_refused_before_any_training()
    {
        using var root = new TempFolder();
        var (untrusted, holdout, _) = Folders(root, perClass: 6, holdoutPerClass: 2);
        var output = Path.Combine(root.Path, "out");

        var thin = CliProcess.Run(["scan", "--untrusted", untrusted, "--holdout", holdout, "--out", output]);
        thin.ExitCode.Should().Be(2);
        thin.ErrorLines.Should().ContainSingle().Which.Should().Contain("at least 5 images of every class").And.Contain("2 of 'apple'");

        Directory.Move(Path.Combine(holdout, "car"), Path.Combine(holdout, "truck"));
        var mismatched = CliProcess.Run(["scan", "--untrusted", untrusted, "--holdout", holdout, "--out", output]);
        mismatched.ExitCode.Should().Be(2);
        mismatched.ErrorLines.Should().ContainSingle().Which.Should().Contain("the class folders differ").And.Contain("[apple, bird, car]").And.Contain("[apple, bird, truck]");

        Directory.Move(Path.Combine(holdout, "truck"), Path.Combine(holdout, "car"));
        foreach (var c in Classes)
            for (int i = 2; i < 5; i++) File.Copy(Path.Combine(holdout, c, "000.png"), Path.Combine(holdout, c, $"copy-{i}.png"));
        var small = CliProcess.Run(["scan", "--untrusted", untrusted, "--holdout", holdout, "--out", output]);
        small.ExitCode.Should().Be(2);
        small.ErrorLines.Should().ContainSingle().Which.Should().Contain("--untrusted holds 26 images, fewer than one stage-1 batch of 256; lower --batch-size");

        var missing = CliProcess.Run(["scan", "--untrusted", Path.Combine(root.Path, "nope"), "--holdout", holdout, "--out", output]);
        missing.ExitCode.Should().Be(2);
        missing.ErrorLines.Should().ContainSingle().Which.Should().Contain("--untrusted").And.Contain("is not a folder");
        Directory.Exists(output).Should().BeFalse("nothing is written for a refused scan");
    }

    // One CSV row (RFC 4180: quoted fields may hold commas and doubled quotes).
    private static List<string> Fields(string line)
    {
        var fields = new List<string>();
        var current = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char ch = line[i];
            if (quoted && ch == '"' && i + 1 < line.Length && line[i + 1] == '"') { current.Append('"'); i++; }
            else if (ch == '"') quoted = !quoted;
            else if (ch == ',' && !quoted) { fields.Add(current.ToString()); current.Clear(); }
            else current.Append(ch);
        }
        fields.Add(current.ToString());
        return fields;
    }
}
