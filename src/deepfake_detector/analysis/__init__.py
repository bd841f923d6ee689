"""The analyze() pipeline and the result schema it returns."""

from deepfake_detector.analysis.pipeline import Analyzer, analyze
from deepfake_detector.analysis.schema import SCHEMA_VERSION, AnalysisResult, Verdict

__all__ = ["SCHEMA_VERSION", "AnalysisResult", "Analyzer", "Verdict", "analyze"]
