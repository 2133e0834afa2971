using TrapReplace.Experiments.Defenses;
using TrapReplace.Experiments.Reporting;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Running;
using TrapReplace.Experiments.Specs;
using TrapReplace.Runtime;
using TrapReplace.Tests.Shared;
using TrapReplace.Training;

namespace TrapReplace.Experiments.Tests;

public sealed class FailureRecordTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("trapreplace-failure-").FullName;
    private static readonly CellSpec Spec = new(ExperimentDataset.Cifar10, BackboneName.Parse("wrn16-1"), AttackName.Parse("wanet"), DefenseCatalog.Parse("i-bau"), 0, ExperimentProfile.Quick);
    private static readonly RunSettings Settings = new(new DataLocation("/data", "test", false, null), "results", Threads: 2, Device: ComputeDevice.Cpu, Precision: Precision.BFloat16);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static CellFailure Diverged(CellSpec spec) =>
        CellFailure.Of(spec, Settings, new TrainingDivergedException("i-bau", 0, 19, new LossParts(double.NaN, double.NaN, 0, 0), null), CellRunner.Versions());

    [Fact]
    public void A_divergence_is_recorded_with_the_cell_the_stage_and_the_step_and_reads_back()
    {
        var failure = Diverged(Spec);
        var path = ResultFiles.FailurePath(folder, Spec);
        ResultFiles.WriteFailure(path, failure);

        Path.GetFileName(path).Should().Be("cifar10.wrn16-1.quick.wanet-t0-r0.1.i-bau.seed0.failed.json");
        var read = ResultFiles.ReadFailure(path);
        (read.Attack, read.Defense, read.Seed, read.Profile, read.PoisonRatio).Should().Be(("wanet", "i-bau", 0, "quick", 0.1));
        (read.Reason, read.Stage, read.Epoch, read.Step, read.Precision, read.Threads, read.Device).Should().Be(("diverged", "i-bau", 0, 19, "bf16", 2, "cpu"));
        read.Message.Should().StartWith("i-bau: the loss became non-finite at epoch 0, step 19");
        ResultFiles.HasFailed(folder, Spec).Should().BeTrue();
        ResultFiles.HasFailed(folder, Spec with { Seed = 1 }).Should().BeFalse();
        ResultFiles.IsFinished(folder, Spec).Should().BeFalse("a failure is not a result");
    }

    [Fact]
    public void Results_and_failures_are_read_apart_and_a_damaged_failure_record_does_not_count()
    {
        var resultSpec = Spec with { Defense = DefenseCatalog.Parse("nad") };
        ResultFiles.Write(Path.Combine(folder, resultSpec.FileName), SampleResults.Result("wanet", "nad", 0, 0.76, 0.03, new Metrics(0.79, 0.43, 0.5)));
        ResultFiles.WriteFailure(ResultFiles.FailurePath(folder, Spec), Diverged(Spec));

        ResultFiles.ReadAll(folder).Should().ContainSingle().Which.Result.Defense.Should().Be("nad");
        ResultFiles.ReadAllFailures(folder).Should().ContainSingle().Which.Failure.Defense.Should().Be("i-bau");

        File.WriteAllText(ResultFiles.FailurePath(folder, Spec), "{ not json");
        ResultFiles.HasFailed(folder, Spec).Should().BeFalse("a damaged record is not trusted: the cell may run again");
        var read = () => ResultFiles.ReadAllFailures(folder);
        read.Should().Throw<InvalidDataException>().WithMessage("*i-bau.seed0.failed.json: not a valid failure record*");
    }

    [Fact]
    public void An_unfinished_cells_work_folder_is_not_read_as_results()
    {
        var spec = Spec with { Defense = DefenseCatalog.Parse("abl") };
        ResultFiles.Write(Path.Combine(folder, spec.FileName.Replace("abl", "nad", StringComparison.Ordinal)), SampleResults.Result("wanet", "nad", 0, 0.76, 0.03, new Metrics(0.79, 0.43, 0.5)));
        var work = Directory.CreateDirectory(Path.Combine(folder, Path.ChangeExtension(spec.FileName, ".training"))).FullName;
        File.WriteAllText(Path.Combine(work, "defense-curves.json"), "[]"); // what an interrupted ABL cell leaves

        ResultFiles.ReadAll(folder).Should().ContainSingle().Which.Result.Defense.Should().Be("nad");
        ResultFiles.ReadAllFailures(folder).Should().BeEmpty();
    }

    [Fact]
    public void The_report_marks_a_failed_cell_in_the_pivot_and_lists_it_without_counting_it_in_the_standings()
    {
        var results = new[]
        {
            SampleResults.Result("wanet", "none", 0, 0.79, 0.43, null),
            SampleResults.Result("wanet", "nad", 0, 0.76, 0.03, new Metrics(0.79, 0.43, 0.5)) with { Der = 0.69 },
        };

        var markdown = ReportWriter.Markdown(SummaryRow.Build(results), [Diverged(Spec)]);

        markdown.Should().Contain("| attack | none | nad | i-bau |");
        markdown.Should().Contain("| wanet (0.1) | 79.0 / 43.0 | 76.0 / 3.0 | diverged |");
        markdown.Should().Contain("- wanet (0.1) x i-bau, seed 0: diverged in stage i-bau at epoch 0, step 19 (bf16,");
        markdown.Should().Contain("| nad | 1 | 0.690 |").And.NotContain("| i-bau | 1 |");
    }
}
