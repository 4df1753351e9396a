"""Business rules of courses, modules, lessons, enrollment and progress.

One module a use case: access (who may see, read, teach, change), catalog (courses), outline
(modules and lessons), enrollment, progress, lookups for other domains, hooks and reactions.
This module keeps every public name, so callers (routers, web, compat, other domains, the
wiring) are unchanged.
"""

from __future__ import annotations

from studyhall.courses.access import can_view as can_view
from studyhall.courses.access import find_course as find_course
from studyhall.courses.access import find_course_by_code as find_course_by_code
from studyhall.courses.access import get_course as get_course
from studyhall.courses.access import managed_course_by_code as managed_course_by_code
from studyhall.courses.access import manages as manages
from studyhall.courses.access import reads as reads
from studyhall.courses.access import require_manager as require_manager
from studyhall.courses.access import require_reader as require_reader
from studyhall.courses.access import sees as sees
from studyhall.courses.access import student_course as student_course
from studyhall.courses.access import teaches as teaches
from studyhall.courses.access import teaches_course as teaches_course
from studyhall.courses.access import visible_course as visible_course
from studyhall.courses.access import visible_course_by_code as visible_course_by_code
from studyhall.courses.catalog import CourseFilter as CourseFilter
from studyhall.courses.catalog import catalog_page as catalog_page
from studyhall.courses.catalog import course_detail as course_detail
from studyhall.courses.catalog import courses_by_category as courses_by_category
from studyhall.courses.catalog import create_course as create_course
from studyhall.courses.catalog import delete_course as delete_course
from studyhall.courses.catalog import list_courses as list_courses
from studyhall.courses.catalog import new_join_code as new_join_code
from studyhall.courses.catalog import rotate_join_code as rotate_join_code
from studyhall.courses.catalog import taught_courses as taught_courses
from studyhall.courses.catalog import update_course as update_course
from studyhall.courses.enrollment import add_enrollment as add_enrollment
from studyhall.courses.enrollment import all_students as all_students
from studyhall.courses.enrollment import check_self_enrollment as check_self_enrollment
from studyhall.courses.enrollment import course_students as course_students
from studyhall.courses.enrollment import enroll as enroll
from studyhall.courses.enrollment import is_paid as is_paid
from studyhall.courses.enrollment import list_enrolled as list_enrolled
from studyhall.courses.enrollment import percent_of as percent_of
from studyhall.courses.enrollment import teacher_students as teacher_students
from studyhall.courses.enrollment import unenroll as unenroll
from studyhall.courses.hooks import CourseHook as CourseHook
from studyhall.courses.hooks import LessonHook as LessonHook
from studyhall.courses.hooks import LessonScores as LessonScores
from studyhall.courses.hooks import course_deletion_hooks as course_deletion_hooks
from studyhall.courses.hooks import lesson_deletion_hooks as lesson_deletion_hooks
from studyhall.courses.hooks import lesson_scores_provider as lesson_scores_provider
from studyhall.courses.hooks import lesson_scores_providers as lesson_scores_providers
from studyhall.courses.hooks import on_course_deleted as on_course_deleted
from studyhall.courses.hooks import on_lesson_deleted as on_lesson_deleted
from studyhall.courses.lookups import PublicProfile as PublicProfile
from studyhall.courses.lookups import can_manage_course as can_manage_course
from studyhall.courses.lookups import can_read_course as can_read_course
from studyhall.courses.lookups import codes_by_id as codes_by_id
from studyhall.courses.lookups import course_codes_by_user as course_codes_by_user
from studyhall.courses.lookups import course_lessons as course_lessons
from studyhall.courses.lookups import enrolled_course_ids as enrolled_course_ids
from studyhall.courses.lookups import enrolled_student_ids as enrolled_student_ids
from studyhall.courses.lookups import enrollment_figures as enrollment_figures
from studyhall.courses.lookups import find_lesson as find_lesson
from studyhall.courses.lookups import is_enrolled as is_enrolled
from studyhall.courses.lookups import lesson_in_course as lesson_in_course
from studyhall.courses.lookups import public_profile as public_profile
from studyhall.courses.lookups import record_activity as record_activity
from studyhall.courses.lookups import teacher_can_see_student as teacher_can_see_student
from studyhall.courses.lookups import titles_by_id as titles_by_id
from studyhall.courses.outline import create_lesson as create_lesson
from studyhall.courses.outline import create_module as create_module
from studyhall.courses.outline import delete_lesson as delete_lesson
from studyhall.courses.outline import delete_module as delete_module
from studyhall.courses.outline import update_lesson as update_lesson
from studyhall.courses.outline import update_module as update_module
from studyhall.courses.progress import VIDEO_COMPLETION_RATIO as VIDEO_COMPLETION_RATIO
from studyhall.courses.progress import course_progress as course_progress
from studyhall.courses.progress import update_progress as update_progress
from studyhall.courses.progress import video_analytics as video_analytics
from studyhall.courses.reactions import delete_user_data as delete_user_data
