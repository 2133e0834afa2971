using System.Text.Json;
using System.Text.Json.Nodes;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Serialization;
using TrapReplace.Experiments.Specs;
using TrapReplace.Tests.Shared;

namespace TrapReplace.Experiments.Tests;

public sealed class ResultFileSchemaTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("trapreplace-schema-").FullName;
    private static readonly CellSpec Spec = new(ExperimentDataset.Cifar10, BackboneName.Parse("wrn16-1"), AttackName.Parse("badnets"), TrapReplace.Experiments.Defenses.DefenseCatalog.TrapReplace, 0, ExperimentProfile.Quick);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string WriteAs(int schema, bool withCpu)
    {
        var json = JsonSerializer.SerializeToNode(SampleResults.Result("badnets", "trap-replace", 0, 0.8, 0.02, new Metrics(0.81, 1.0, 0.0)), ExperimentJson.Options)!.AsObject();
        json["schema"] = schema;
        if (!withCpu) json["versions"]!.AsObject().Remove("cpu");
        var path = Path.Combine(folder, Spec.FileName);
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    [Fact]
    public void A_new_file_records_the_cpu_and_the_current_schema()
    {
        var path = Path.Combine(folder, Spec.FileName);
        ResultFiles.Write(path, SampleResults.Result("badnets", "trap-replace", 0, 0.8, 0.02, new Metrics(0.81, 1.0, 0.0)));

        var read = ResultFiles.Read(path);
        read.Schema.Should().Be(CellResult.CurrentSchema);
        read.Versions.Cpu.Should().Be(TrapReplace.Runtime.CpuIdentity.Current?.Describe());
        if (OperatingSystem.IsLinux()) read.Versions.Cpu.Should().NotBeNullOrWhiteSpace("Linux always has /proc/cpuinfo");
    }

    [Fact]
    public void A_schema_1_file_without_the_cpu_still_reads_and_counts_as_finished()
    {
        var path = WriteAs(1, withCpu: false);

        var read = ResultFiles.Read(path);
        read.Schema.Should().Be(1);
        read.Versions.Cpu.Should().BeNull();
        read.CleanAccuracy.Should().Be(0.8);
        ResultFiles.IsFinished(folder, Spec).Should().BeTrue();
    }

    [Fact]
    public void A_file_of_a_newer_schema_is_refused_by_name_and_never_taken_for_a_damaged_one()
    {
        var path = WriteAs(CellResult.CurrentSchema + 1, withCpu: true);

        var read = () => ResultFiles.Read(path);
        read.Should().Throw<InvalidDataException>().WithMessage($"*{Spec.FileName}*schema {CellResult.CurrentSchema + 1} is newer*");
        // A damaged file makes its cell run again (and be overwritten); a newer one must stop the run instead.
        var finished = () => ResultFiles.IsFinished(folder, Spec);
        finished.Should().Throw<InvalidDataException>();
        File.WriteAllText(path, "{ not json");
        ResultFiles.IsFinished(folder, Spec).Should().BeFalse();
    }
}
